#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# A git repository of the assembled tree, for hacking: the base as one
# commit (tag kref-async-base), then one commit per series entry, made
# from the entry's patch and added files.  Edit there, commit (amend or
# rebase -i so that each series commit stays one logical change), then
# bring the result back with harness/export.sh (make export).
#
# Rebuilding resets the repository: commit and export your work first.
. "$(dirname "$0")/common.sh"
need git patch

base=$(base_dir)
g=${GIT_TREE:-$CACHE/git/$(base_key "$base")}
export GIT_AUTHOR_NAME=${GIT_AUTHOR_NAME:-kref_async series} \
	GIT_AUTHOR_EMAIL=${GIT_AUTHOR_EMAIL:-kref-async@localhost}
export GIT_COMMITTER_NAME=$GIT_AUTHOR_NAME GIT_COMMITTER_EMAIL=$GIT_AUTHOR_EMAIL
# Fixed dates: the same repo state always yields the same commits.
export GIT_AUTHOR_DATE="2026-01-01T00:00:00Z" GIT_COMMITTER_DATE="2026-01-01T00:00:00Z"

if [ ! -f "$g/.kref-async-base" ] || [ "$(cat "$g/.kref-async-base")" != "$base" ]; then
	log "creating $g from $(base_version "$base") (takes a minute)"
	rm -rf "$g"
	mkdir -p "$(dirname "$g")"
	cp -a "$base" "$g"
	rm -f "$g/.kref-async-extracted"
	(
		cd "$g"
		git init -q -b master
		printf '.kref-async-base\n' > .git/info/exclude
		# Debian's tarball ignores everything at the top level (its
		# packaging repo keeps only debian/ there); drop that block so
		# that new files show up in git status.
		sed -i '/^# Debian packaging: ignore everything/,/^!\/debian\/$/d' .gitignore
		git add -A -f
		git commit -q -m "Linux $(base_version "$base")" \
			-m "Debian's top-level ignore-everything block removed from .gitignore."
		git tag -f kref-async-base >/dev/null
	)
	echo "$base" > "$g/.kref-async-base"
else
	if [ -n "$(git -C "$g" status --porcelain)" ] &&
	   [ "${FORCE:-}" != 1 ]; then
		die "$g has uncommitted changes; commit and 'make export', or FORCE=1"
	fi
	git -C "$g" checkout -q -f -B master kref-async-base
	git -C "$g" clean -q -fdx
fi

cd "$g"
n=0
while read -r patch added; do
	n=$((n + 1))
	p=$(patch_file "$patch")
	for f in $added; do
		mkdir -p "$(dirname "$f")"
		cp "$REPO/$f" "$f"
	done
	if grep -q '^--- ' "$p"; then
		patch -p1 -N -F0 --no-backup-if-mismatch -s < "$p" ||
			die "patch $patch does not apply to $(base_version "$base")"
	fi
	git add -A
	git mailinfo "$g/.git/msg" /dev/null < "$p" > "$g/.git/info.txt"
	subject=$(sed -n 's/^Subject: //p' "$g/.git/info.txt")
	{ echo "$subject"; echo; cat "$g/.git/msg"; } | git commit -q -F -
done < <(series_lines)
git tag -f kref-async-series >/dev/null
log "$g: base + $n commits (tags kref-async-base, kref-async-series)"
echo "$g"
