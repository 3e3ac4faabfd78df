#!/usr/bin/env bash
# `cmake --install` to a temporary prefix puts vae in bin/, the man page vae(1)
# in share/man/man1 and the bash completion in share/bash-completion/completions;
# the man page renders and lists exactly the options of every command's --help
# (and no others); the completion loads in bash and completes commands, options
# and the values of choice options.
. "$(dirname "$0")/cli_lib.sh"

CMAKE=${VAE_CMAKE:-$(command -v cmake)}
BUILD=${VAE_BUILD_DIR:-$(dirname "$VAE")}
[ -x "$CMAKE" ] || { echo "cmake not found; skipping"; exit 77; }
[ -f "$BUILD/cmake_install.cmake" ] || { echo "$BUILD is not a CMake build folder; skipping"; exit 77; }

P="$T/prefix"
"$CMAKE" --install "$BUILD" --prefix "$P" >"$OUT" 2>"$ERR"
check "cmake --install exits 0 ($(head -c 300 "$ERR"))" test "$(wc -c <"$ERR")" -eq 0
check "bin/vae is installed and runs" sh -c '"$1" --version >/dev/null' _ "$P/bin/vae"
MAN="$P/share/man/man1/vae.1"
COMP="$P/share/bash-completion/completions/vae"
check "share/man/man1/vae.1 is installed" test -s "$MAN"
check "share/bash-completion/completions/vae is installed" test -s "$COMP"
check "the installed man page is what the binary generates" cmp -s "$MAN" <("$VAE" --man)

# ---- the man page renders, without warnings ----
if command -v man >/dev/null; then
    MANWIDTH=80 MANPAGER=cat man -l "$MAN" >"$T/man.txt" 2>"$T/man.err"
    check "man -l renders it" test $? -eq 0 -a -s "$T/man.txt"
elif command -v groff >/dev/null; then
    groff -man -Tascii "$MAN" >"$T/man.txt" 2>"$T/man.err"
    check "groff renders it" test $? -eq 0 -a -s "$T/man.txt"
fi
if command -v groff >/dev/null; then
    groff -man -Tascii -ww -z "$MAN" 2>"$T/groff.err"
    check "groff -ww reports no problem ($(head -c 300 "$T/groff.err"))" test ! -s "$T/groff.err"
fi
if [ -s "$T/man.txt" ]; then
    check "the rendered page has the train command and its --epochs" \
        grep -q -- "--epochs" <(sed -n '/vae train/,$p' "$T/man.txt")
fi

# ---- every option of every command's --help is in the man page, and vice versa ----
cmds=$("$VAE" --help | sed -n '/^Commands:/,/^$/p' | awk 'NF >= 2 { print $1 }')
check "vae --help lists commands" test -n "$cmds"
# help: option lines under "Options:" start with "  -x, --name" or "      --name"
help_opts() {
    "$VAE" "$1" --help | sed -n '/^Options:/,$p' |
        grep -oE '^  (-[[:alnum:]], )?( {4})?--[[:alnum:]-]+|^  -[[:alnum:]]' | grep -oE -- '--?[[:alnum:]-]+' | sort -u
}
# man: the .TP entries of the command's .SS section, hyphens unescaped
man_opts() {
    awk -v c="$1" '/^\.SS / { on = ($2 == "\"vae" && $3 == c) || ($2 == "\"vae" && $3 == c "\"") } on' "$MAN" |
        awk '/^\.TP/ { getline; print }' | sed 's/\\-/-/g; s/\\f[BIR]//g' |
        grep -oE -- '(^|, )--?[[:alnum:]-]+' | grep -oE -- '--?[[:alnum:]-]+' | sort -u
}
# completion: what "vae CMD -<TAB>" offers
comp_opts() {
    bash -c '. "$1"; COMP_WORDS=(vae "$2" -); COMP_CWORD=2; _vae; printf "%s\n" "${COMPREPLY[@]}"' _ "$COMP" "$1" | sort -u
}
for c in $cmds; do
    h=$(help_opts "$c")
    m=$(man_opts "$c")
    k=$(comp_opts "$c")
    check "$c: --help lists options" test "$(echo "$h" | wc -l)" -ge 2
    if [ "$h" = "$m" ]; then ok; else bad "$c: --help and the man page differ: $(diff <(echo "$h") <(echo "$m") | grep '^[<>]' | tr '\n' ' ')"; fi
    if [ "$h" = "$k" ]; then ok; else bad "$c: --help and the completion differ: $(diff <(echo "$h") <(echo "$k") | grep '^[<>]' | tr '\n' ' ')"; fi
done
# the comparison itself notices a missing option
check "man_opts sees train's --epochs" grep -qx -- "--epochs" <(man_opts train)
check "man_opts sees no --epochs under data" test -z "$(man_opts data | grep -x -- --epochs)"

# ---- the completion loads and completes ----
complete_words() { # complete_words WORD... : what the completion offers for the last word
    bash -c '. "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _vae; echo "${COMPREPLY[*]}"' _ "$COMP" "$@"
}
check "complete -p names the function" grep -q -- "-F _vae vae" <(bash -c '. "$1"; complete -p vae' _ "$COMP")
check "vae tr<TAB> completes train" test "$(complete_words vae tr)" = train
check "vae train --ep<TAB> completes --epochs" test "$(complete_words vae train --ep)" = --epochs
check "vae train --loss <TAB> offers bce mse" test "$(complete_words vae train --loss '')" = "bce mse"
check "vae scatter --tsne <TAB> offers auto exact bh" test "$(complete_words vae scatter --tsne '')" = "auto exact bh"
check "vae train --data <TAB> leaves it to file names" test -z "$(complete_words vae train --data '')"
check "vae --ver<TAB> completes --version" test "$(complete_words vae --ver)" = --version
check "vae --completion without a shell is a usage error" test "$("$VAE" --completion >/dev/null 2>&1; echo $?)" -eq 2
finish
