#!/usr/bin/env bash
# Installs the Kubernetes tools the deploy checks need, when missing, and prints the
# path of each on its own line (today: kustomize).
#   scripts/k8s-tools.sh            install if needed, print the kustomize path
# kustomize is built from its Go module (the Go module proxy) with the machine's Go,
# pinned, into $RATER_CACHE/bin (default ~/.cache/rater/bin); the first run takes a
# minute or two, later runs return at once. Needs `go` on PATH (or /usr/local/go/bin).
# Idempotent; progress goes to stderr, stdout holds only the paths.
set -euo pipefail

PROG=k8s-tools
# shellcheck source=scripts/_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/_lib.sh"

# v5.8.2 builds with Go 1.26 (v5.8.3 needs a newer toolchain).
KUSTOMIZE_VERSION="${KUSTOMIZE_VERSION:-v5.8.2}"
BIN="$RATER_CACHE/bin"
KUSTOMIZE="$BIN/kustomize"

have_kustomize() {
  [[ -x "$KUSTOMIZE" ]] && [[ "$("$KUSTOMIZE" version 2>/dev/null)" == "$KUSTOMIZE_VERSION" ]]
}

if ! have_kustomize; then
  GO="$(command -v go || true)"
  [[ -n "$GO" ]] || { [[ -x /usr/local/go/bin/go ]] && GO=/usr/local/go/bin/go; }
  [[ -n "$GO" ]] || die "go not found: cannot build kustomize $KUSTOMIZE_VERSION"
  mkdir -p "$BIN"
  warn "building kustomize $KUSTOMIZE_VERSION into $BIN (once; a minute or two)"
  out="$(mktemp)"
  trap 'rm -f "$out"' EXIT
  # GOTOOLCHAIN=local: never download another Go toolchain; build outside the repo so
  # no go.mod around us gets in the way.
  if ! (cd "$BIN" && GOTOOLCHAIN=local GOBIN="$BIN" GOFLAGS=-mod=mod \
    "$GO" install "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION") >"$out" 2>&1; then
    tail -n 30 "$out" >&2
    die "go install kustomize $KUSTOMIZE_VERSION failed"
  fi
  have_kustomize || die "kustomize $KUSTOMIZE_VERSION still missing from $BIN"
fi
echo "$KUSTOMIZE"
