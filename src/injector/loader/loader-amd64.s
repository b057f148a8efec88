# lading's stage-0 loader, linux/amd64: a whole ELF executable in one assembly file (header included, no
# linker), small enough for one ConfigMap key. Usage, from a pod whose image has no shell:
#   loader FILE... -- ARGV0 ARG...
# It concatenates FILEs (the chunks of a bigger static program, one per ConfigMap) into a memfd and
# execveat()s it with ARGV0 ARG... and the same environment. It reads nothing else, writes only to the
# memfd, and needs no libc, no shell, no writable file and no capability. Exit codes when it cannot:
# 120 memfd_create, 121 a FILE would not open, 122 copying a FILE failed, 123 no "--", 124 execveat.
        .intel_syntax noprefix
        .text
        .set BASE, 0x400000
ehdr:   .byte 0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0      # ELF, 64-bit, little endian, version 1, System V
        .quad 0
        .short 2                                        # ET_EXEC
        .short 62                                       # EM_X86_64
        .long 1
        .quad BASE + (_start - ehdr)                    # e_entry
        .quad phdr - ehdr                               # e_phoff
        .quad 0                                         # e_shoff
        .long 0                                         # e_flags
        .short 64, 56, 1, 0, 0, 0                       # e_ehsize, e_phentsize, e_phnum, e_sh*
phdr:   .long 1, 5                                      # PT_LOAD, R+X
        .quad 0, BASE, BASE                             # p_offset, p_vaddr, p_paddr
        .quad end - ehdr, end - ehdr                    # p_filesz, p_memsz
        .quad 0x1000                                    # p_align

_start:
        mov rbx, rsp                    # [rbx] = argc, then argv[], NULL, envp[]
        mov r12, [rbx]
        lea r13, [rbx + 16]             # &argv[1]
        lea rdi, [rip + name]           # memfd_create(name, MFD_CLOEXEC)
        mov esi, 1
        mov eax, 319
        syscall
        mov ebp, 120
        test rax, rax
        js fail
        mov r14, rax
next:
        mov rdi, [r13]                  # the next argument
        add r13, 8
        mov ebp, 123
        test rdi, rdi
        jz fail
        cmp word ptr [rdi], 0x2d2d      # "--" ends the files
        jne open
        cmp byte ptr [rdi + 2], 0
        je exec
open:
        mov rsi, rdi                    # openat(AT_FDCWD, path, O_RDONLY|O_CLOEXEC)
        mov rdi, -100
        mov edx, 0x80000
        mov eax, 257
        syscall
        mov ebp, 121
        test rax, rax
        js fail
        mov r15, rax
copy:
        mov rdi, r14                    # sendfile(memfd, fd, NULL, 2 GiB - 64 KiB) until it returns 0
        mov rsi, r15
        xor edx, edx
        mov r10d, 0x7fff0000
        mov eax, 40
        syscall
        mov ebp, 122
        test rax, rax
        js fail
        jnz copy
        mov rdi, r15                    # close(fd)
        mov eax, 3
        syscall
        jmp next
exec:
        mov rdi, r14                    # execveat(memfd, "", argv after "--", envp, AT_EMPTY_PATH)
        lea rsi, [rip + empty]
        mov rdx, r13
        lea r10, [rbx + r12*8 + 16]
        mov r8d, 0x1000
        mov eax, 322
        syscall
        mov ebp, 124
fail:
        mov edi, 2                      # write(2, message), exit_group(code)
        lea rsi, [rip + message]
        lea rdx, [rip + message_end]
        sub rdx, rsi
        mov eax, 1
        syscall
        mov edi, ebp
        mov eax, 231
        syscall
name:   .asciz "lading-program"
empty:  .byte 0
message: .ascii "lading loader: cannot load the program (see the exit code: 120 memfd_create, 121 open, 122 copy, 123 no --, 124 execveat)\n"
message_end:
end:
