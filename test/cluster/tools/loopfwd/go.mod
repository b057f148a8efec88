module lading.test/cluster/loopfwd

go 1.24
