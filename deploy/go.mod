module github.com/bpfleet/bpfleet/deploy

go 1.26.0
