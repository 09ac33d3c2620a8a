module github.com/gocoro/gocoro

go 1.22
