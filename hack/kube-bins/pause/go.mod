module kvsync.dev/hack/kube-bins/pause

go 1.24.0
