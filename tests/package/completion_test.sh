#!/usr/bin/env bash
# hbeat's bash completion (packaging/bash-completion/hbeat), run the way
# bash runs it, against the hbeat of the build: what it offers must match
# what `hbeat --help` lists (commands, run's subcommands, URL schemes) and
# the flags `hbeat help COMMAND` names.
#   completion_test.sh COMPLETION_FILE HBEAT
set -euo pipefail
completion=$1
hbeat=$2
fail() {
    echo "completion-test: FAILED: $*" >&2
    exit 1
}
[ -f /usr/share/bash-completion/bash_completion ] ||
    fail "no /usr/share/bash-completion/bash_completion (Debian's bash-completion)"
# shellcheck disable=SC1091
. /usr/share/bash-completion/bash_completion
# shellcheck disable=SC1090
. "$completion"
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
ln -s "$hbeat" "$bin/hbeat"
PATH=$bin:$PATH

# What completing `line` (the cursor at its end) offers, one a line.
offers() {
    local line=$1
    read -r -a COMP_WORDS <<<"$line"
    [ "${line: -1}" = " " ] && COMP_WORDS+=("")
    COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
    COMP_LINE=$line
    COMP_POINT=${#line}
    COMPREPLY=()
    _hbeat
    printf '%s\n' "${COMPREPLY[@]}" | sort
}
expect() { # LINE WORD...: each WORD is offered
    local line=$1 got
    shift
    got=$(offers "$line")
    for w in "$@"; do
        grep -qxF -- "$w" <<<"$got" || fail "'$line<TAB>' does not offer '$w'; it offers: $got"
    done
}
expect_none() {
    local got
    got=$(offers "$1")
    [ -z "$got" ] || fail "'$1<TAB>' offers '$got', expected nothing"
}

help=$("$hbeat" --help)
# Commands: the first word of each line of the Commands: section.
commands=$(sed -n '/^Commands:/,/^$/p' <<<"$help" | sed -n 's/^  \([a-z][a-z-]*\).*/\1/p' | sort -u)
[ -n "$commands" ] || fail "no commands found in hbeat --help"
# shellcheck disable=SC2086
expect "hbeat " $commands
subcommands=$(sed -n 's/^  run \([a-z][a-z-]*\).*/\1/p' <<<"$help" | sort -u)
# shellcheck disable=SC2086
expect "hbeat run " $subcommands
expect "hbeat --u" # no command yet: only --help and --version
expect "hbeat --v" --version
# Every scheme hbeat --help shows in its URL examples.
schemes=$(grep -o '[a-z+]*://' <<<"$help" | sort -u)
# shellcheck disable=SC2086
expect "hbeat beat --url " $schemes fake:// nng+inproc://
expect "hbeat beat -u nng" nng+tcp:// nng+ipc:// nng+tls+tcp://
expect "hbeat beat " http:// nng+tcp://
# Flags, read from hbeat help COMMAND.
for cmd in beat run; do
    flags=$("$hbeat" help "$cmd" | grep -o -- '--[a-z][a-z-]*' | sort -u)
    # shellcheck disable=SC2086
    expect "hbeat $cmd --" $flags
done
expect "hbeat beat --in" --interval
expect "hbeat run create --w" --workflow
expect "hbeat run list --status " R D E
expect "hbeat help " beat run
expect_none "hbeat beat --run "
echo "completion-test: OK"
