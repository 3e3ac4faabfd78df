#!/usr/bin/env bash
# vae train --config FILE: an INI file (libinih) whose keys are train's long
# options. Values are checked like the options; options on the command line
# win; an unknown key, a bad value, a repeated key, an unknown section or a
# malformed line is a usage error naming FILE:LINE, and nothing is written.
# The run folder keeps the settings in effect (config.ini), which read back
# give the same run.
. "$(dirname "$0")/cli_lib.sh"

make_data "$T/d" 200 40 8 8
cat > "$T/run.ini" <<INI
# a small run
[train]
data = $T/d
zdim = 3
hidden = 16
batch = 50      ; inline comment
epochs = 2
lr = 0.002
seed = 7
threads = 1
no-images = true
INI
expect 0 "" train --config "$T/run.ini" --out "$T/a" --zdim 2
check "a config run writes its checkpoint" test -f "$T/a/model.safetensors"
check "the command line wins: zdim 2, not the file's 3" grep -qx 'zdim = 2' "$T/a/config.ini"
for kv in 'hidden = 16' 'batch = 50' 'epochs = 2' 'lr = 0.002' 'seed = 7' 'no-images = true' "data = $T/d" "out = $T/a"; do
    check "config.ini keeps '$kv'" grep -qxF "$kv" "$T/a/config.ini"
done
check "no per-epoch pictures (no-images = true)" sh -c '! ls "$0"/sample-*.png 2>/dev/null | grep -q .' "$T/a"
check "config.ini leaves out what is not a setting (resume, json, config)" \
    sh -c '! grep -qE "^(resume|json|config) =" "$0"' "$T/a/config.ini"
# the kept settings, read back, give the same run
expect 0 "" train --config "$T/a/config.ini" --out "$T/b"
check "config.ini read back gives the same metrics" \
    cmp -s <(cut -d, -f1-10 "$T/a/metrics.csv") <(cut -d, -f1-10 "$T/b/metrics.csv")
check "... and the same settings" cmp -s <(grep -v '^out' "$T/a/config.ini") <(grep -v '^out' "$T/b/config.ini")

# errors: exit 2, FILE:LINE and what is wrong, nothing written
bad_ini() { # CONTENT EXPECTED-MESSAGE
    printf '%s\n' "$1" > "$T/bad.ini"
    usage_err "$2" train --config "$T/bad.ini" --out "$WORK/never" --data "$T/d"
}
bad_ini $'zdim = 2\nzdimm = 3' "$T/bad.ini:2: unknown key 'zdimm'"
bad_ini $'epochs = 2\nzdim = abc' "$T/bad.ini:2: zdim: 'abc' is not an integer"
bad_ini $'epochs = 0' "$T/bad.ini:1: epochs: '0' is out of range"
bad_ini $'lr = nan' "$T/bad.ini:1: lr: 'nan' must be a finite number"
bad_ini $'loss = l1' "$T/bad.ini:1: loss: 'l1' is not one of the choices"
bad_ini $'hidden = 16,,8' "$T/bad.ini:1: hidden"
bad_ini $'no-images = maybe' "$T/bad.ini:1: no-images: 'maybe' is not true or false"
bad_ini $'zdim = 2\n\nzdim = 3' "$T/bad.ini:3: 'zdim' is given twice"
bad_ini $'[sample]\nzdim = 2' "$T/bad.ini:2: unknown section [sample]"
bad_ini $'zdim = 2\nthis is not a setting' "$T/bad.ini:2: not a 'key = value' line"
bad_ini $'resume = x.safetensors' "$T/bad.ini:1: unknown key 'resume'"
bad_ini $'config = other.ini' "$T/bad.ini:1: unknown key 'config'"
bad_ini "out = $(head -c 300 /dev/zero | tr '\0' x)" "$T/bad.ini:1: line longer than"
expect 1 "$T/none.ini: No such file" train --config "$T/none.ini" --out "$WORK/never"
# a bad option on the command line is still reported as the option
printf 'zdim = 2\n' > "$T/ok.ini"
usage_err "--zdim: 'x' is not an integer" train --config "$T/ok.ini" --zdim x
check "train --help documents --config" grep -q -- "--config FILE" <("$VAE" train --help)
finish
