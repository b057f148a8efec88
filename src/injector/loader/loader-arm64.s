// lading's stage-0 loader, linux/arm64: the same program as loader-amd64.s (read that file's header), a
// whole ELF executable in one assembly file.
        .text
        .set BASE, 0x400000
ehdr:   .byte 0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0      // ELF, 64-bit, little endian, version 1, System V
        .quad 0
        .short 2                                        // ET_EXEC
        .short 183                                      // EM_AARCH64
        .long 1
        .quad BASE + (_start - ehdr)                    // e_entry
        .quad phdr - ehdr                               // e_phoff
        .quad 0                                         // e_shoff
        .long 0                                         // e_flags
        .short 64, 56, 1, 0, 0, 0                       // e_ehsize, e_phentsize, e_phnum, e_sh*
phdr:   .long 1, 5                                      // PT_LOAD, R+X
        .quad 0, BASE, BASE                             // p_offset, p_vaddr, p_paddr
        .quad end - ehdr, end - ehdr                    // p_filesz, p_memsz
        .quad 0x1000                                    // p_align

_start:
        mov x19, sp                     // [x19] = argc, then argv[], NULL, envp[]
        ldr x20, [x19]
        add x21, x19, #16               // &argv[1]
        adr x0, name                    // memfd_create(name, MFD_CLOEXEC)
        mov x1, #1
        mov x8, #279
        svc #0
        mov x24, #120
        cmp x0, #0
        b.lt fail
        mov x22, x0
next:
        ldr x0, [x21], #8               // the next argument
        mov x24, #123
        cbz x0, fail
        ldrb w1, [x0]                   // "--" ends the files
        cmp w1, #0x2d
        b.ne open
        ldrb w1, [x0, #1]
        cmp w1, #0x2d
        b.ne open
        ldrb w1, [x0, #2]
        cbz w1, exec
open:
        mov x1, x0                      // openat(AT_FDCWD, path, O_RDONLY|O_CLOEXEC)
        mov x0, #-100
        mov x2, #0x80000
        mov x3, #0
        mov x8, #56
        svc #0
        mov x24, #121
        cmp x0, #0
        b.lt fail
        mov x23, x0
copy:
        mov x0, x22                     // sendfile(memfd, fd, NULL, 2 GiB - 64 KiB) until it returns 0
        mov x1, x23
        mov x2, #0
        mov x3, #0x7fff0000
        mov x8, #71
        svc #0
        mov x24, #122
        cmp x0, #0
        b.lt fail
        b.gt copy
        mov x0, x23                     // close(fd)
        mov x8, #57
        svc #0
        b next
exec:
        mov x0, x22                     // execveat(memfd, "", argv after "--", envp, AT_EMPTY_PATH)
        adr x1, empty
        mov x2, x21
        add x3, x19, x20, lsl #3
        add x3, x3, #16
        mov x4, #0x1000
        mov x8, #281
        svc #0
        mov x24, #124
fail:
        mov x0, #2                      // write(2, message), exit_group(code)
        adr x1, message
        mov x2, #(message_end - message)
        mov x8, #64
        svc #0
        mov x0, x24
        mov x8, #94
        svc #0
name:   .asciz "lading-program"
empty:  .byte 0
message: .ascii "lading loader: cannot load the program (see the exit code: 120 memfd_create, 121 open, 122 copy, 123 no --, 124 execveat)\n"
message_end:
end:
