module lading.dev/go-tar-list

go 1.21
