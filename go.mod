module github.com/concord-health/concord

go 1.26.8
