#!/usr/bin/env bash
# Regenerates the Go code of every .proto under proto/ (run by `go generate`
# in the proto module, hence by `make generate`). The generated files are
# committed, so only people changing a .proto need protoc.
#
# protoc comes from Debian's protobuf-compiler (installed with apt-get when we
# are root); protoc-gen-go is installed into .data/tools at the version of
# google.golang.org/protobuf that proto/go.mod requires, so the generated code
# always matches the runtime it is compiled against.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tools=$root/.data/tools

# protoc finds the well-known types (google/protobuf/timestamp.proto) in the
# include directory beside its binary; Debian ships them in libprotobuf-dev.
has_protoc() {
	command -v protoc >/dev/null 2>&1 &&
		[ -f "$(dirname "$(command -v protoc)")/../include/google/protobuf/timestamp.proto" ]
}

if ! has_protoc; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		echo "generate-proto: installing protoc (apt-get install protobuf-compiler libprotobuf-dev)" >&2
		apt-get install -y protobuf-compiler libprotobuf-dev >/dev/null ||
			{ apt-get update >/dev/null && apt-get install -y protobuf-compiler libprotobuf-dev >/dev/null; }
	else
		echo "generate-proto: protoc with its well-known types is missing: install Debian's" \
			"protobuf-compiler and libprotobuf-dev (apt-get install protobuf-compiler libprotobuf-dev)," \
			"or a release from https://github.com/protocolbuffers/protobuf/releases" >&2
		exit 1
	fi
fi

version=$(cd "$root/proto" && GOWORK=off go list -m -f '{{.Version}}' google.golang.org/protobuf)
plugin=$tools/protoc-gen-go
if [ ! -x "$plugin" ] || [ "$("$plugin" --version)" != "protoc-gen-go $version" ]; then
	echo "generate-proto: installing protoc-gen-go $version into .data/tools" >&2
	GOBIN=$tools GOWORK=off go install "google.golang.org/protobuf/cmd/protoc-gen-go@$version"
fi

cd "$root/proto"
mapfile -t files < <(find . -name '*.proto' -printf '%P\n' | sort)
if [ "${#files[@]}" -eq 0 ]; then
	echo "generate-proto: no .proto files under proto/" >&2
	exit 0
fi
protoc -I . --plugin="protoc-gen-go=$plugin" \
	--go_out=. --go_opt=paths=source_relative \
	"${files[@]}"
