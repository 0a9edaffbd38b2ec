module kvsync.dev/hack/kube-bins/leash

go 1.24.0
