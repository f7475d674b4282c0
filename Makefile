.PHONY: test run build

# Every test, with the race detector, after vet and a formatting check.
test:
	@test -z "$$(gofmt -l .)" || { echo "gofmt needed:"; gofmt -l .; exit 1; }
	go vet ./...
	go test -race -count=1 ./...

run:
	go run ./cmd/concord serve

build:
	go build -o concord ./cmd/concord
