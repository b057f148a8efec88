module lading.dev/injector

go 1.24
