#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# Bring the commits of the hacking tree (harness/tree.sh) back into the
# repo: files a commit adds are copied to their kernel paths, its edits to
# existing files become patches/NNNN-<subject>.patch, and patches/series
# is rewritten in commit order.
. "$(dirname "$0")/common.sh"
need git
# patches/ and the added files are the mainline series; the 6.12
# differences live in backport/6.12/, written by hand.
[ "$BASE" = 7.3 ] || die "make export writes the 7.3 series; BASE=$BASE is not exported"

base=$(base_dir)
g=$CACHE/git/$(base_key "$base")
[ -d "$g/.git" ] || die "no hacking tree at $g; run 'make tree' first"
[ -z "$(git -C "$g" status --porcelain)" ] ||
	die "$g has uncommitted changes; commit them first"

# Patches carry no person's name or date: the submitter's identity goes
# in when the series is generated and signed off (make series).
normalize_header() {
	python3 - "$1" <<'PY'
import sys
p = sys.argv[1]
head, sep, body = open(p).read().partition("\n\n")
out, skip = [], False
for line in head.split("\n"):
    if line.startswith((" ", "\t")) and skip:
        continue
    skip = line.startswith(("From:", "Date:"))
    if line.startswith("From ") and not line.startswith("From:"):
        line = "From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001"
    if line.startswith("From:"):
        line = "From: kref_async series <kref-async@localhost>"
    elif line.startswith("Date:"):
        continue
    out.append(line)
open(p, "w").write("\n".join(out) + sep + body)
PY
}

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
declare -A added_by
i=0
for c in $(git -C "$g" rev-list --reverse kref-async-base..HEAD); do
	i=$((i + 1))
	added=() modified=()
	while read -r status path; do
		case $status in
		A) added+=("$path") ;;
		M) if [ -n "${added_by[$path]:-}" ]; then
			die "commit $c edits $path, added by ${added_by[$path]}: fold the edit into that commit"
		   fi
		   modified+=("$path") ;;
		*) die "commit $c: unsupported change '$status $path' (renames and deletions of upstream files need a hand-written patch)" ;;
		esac
	done < <(git -C "$g" diff-tree --no-commit-id --name-status -r "$c")
	for f in "${added[@]}"; do
		added_by[$f]=$c
		mkdir -p "$out/files/$(dirname "$f")"
		git -C "$g" show "$c:$f" > "$out/files/$f"
	done
	name=$(git -C "$g" log -1 --format=%f "$c")
	name=$(printf '%04d-%s.patch' "$i" "${name:0:52}")
	if [ ${#modified[@]} -gt 0 ]; then
		git -C "$g" format-patch -1 --stdout --no-signature --zero-commit --abbrev=9 \
			-N "$c" -- "${modified[@]}" > "$out/$name"
	else
		{ git -C "$g" show -s --format=email "$c"; echo "---"; } > "$out/$name"
	fi
	normalize_header "$out/$name"
	echo "$name ${added[*]}" | sed "s/ *$//" >> "$out/series.new"
done

mkdir -p "$REPO/patches"
rm -f "$REPO"/patches/*.patch
cp "$out"/*.patch "$REPO/patches/"
{ sed -n '/^#/p' "$REPO/patches/series"; cat "$out/series.new"; } > "$out/series"
cp "$out/series" "$REPO/patches/series"
[ -d "$out/files" ] && cp -r "$out/files/." "$REPO/"
log "exported $i commits; review with: git -C $REPO status"
