#!/usr/bin/env bash
# Builds the training corpus for the demo model: the King James Bible (public domain) from
# Debian's bible-kjv-text package, as one clean UTF-8 text file with one verse per line.
#
# usage: prepare-corpus.sh OUT_FILE          (e.g. tools/train-demo/data/kjv.txt)
#
# bible-kjv-text ships the text in the compressed random-access format of the "bible" program
# (/usr/lib/bible.data), not as plain text, so the matching reader from Debian's bible-kjv
# package is downloaded too and used to dump Gen 1:1 to Rev 22:21 with one "Ge1:1 text" line
# per verse. Neither package is installed: both are fetched with `apt-get download` and
# unpacked with `dpkg -x` into a temporary folder.
#
# Output format: verse text only, in canonical order (Genesis 1:1 first), one verse per line,
# book/chapter:verse references stripped, runs of spaces collapsed to one, no blank lines.
# The text is plain ASCII (so valid UTF-8). Example first line:
#   In the beginning God created the heaven and the earth.
# Expected: 31,102 lines, about 4.3 MB.
#
# The train/validation split is not done here: train.py holds out every 50th verse
# (0-based line index i with i % 50 == 49) as the test set and the lines with i % 50 == 24 as
# the development set used to pick the checkpoint, so the file itself stays the whole text.
#
# Also writes OUT_FILE.source: the package versions and checksums the file was made from.
# Needs: Debian or Ubuntu with apt-get and dpkg (run as root if `apt-get update` is needed).
set -euo pipefail

out="${1:?usage: prepare-corpus.sh OUT_FILE}"
mkdir -p "$(dirname "$out")"
out="$(cd "$(dirname "$out")" && pwd)/$(basename "$out")"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
# apt-get download fetches as the _apt user where that user exists; let it write here.
if id _apt >/dev/null 2>&1; then chown _apt "$tmp" 2>/dev/null || true; fi
cd "$tmp"

download() {
  apt-get download bible-kjv-text bible-kjv
}
if ! download; then
  echo "apt-get download failed; running apt-get update and retrying" >&2
  apt-get update
  download
fi

text_deb="$(ls bible-kjv-text_*.deb)"
reader_deb="$(ls bible-kjv_*.deb)"
mkdir root
dpkg -x "$text_deb" root
dpkg -x "$reader_deb" root

data="$(find root -type f -name bible.data | head -n 1)"
reader="$(find root -type f -path '*/bin/bible' | head -n 1)"
if [ -z "$data" ] || [ -z "$reader" ]; then
  echo "could not find bible.data and the bible reader in the unpacked packages:" >&2
  find root -type f >&2
  exit 1
fi
echo "text data: ${data#root}   reader: ${reader#root}" >&2

# -f turns pretty-printing off: one verse per line, each preceded by its reference ("Ge1:1 ").
# -p points the reader at the unpacked data folder instead of /usr/lib.
"$reader" -f -p "$(cd "$(dirname "$data")" && pwd)" "Gen1:1-Rev22:21" </dev/null >raw.txt

# Strip the reference, collapse whitespace, trim; fail if any line lacks a reference.
LC_ALL=C awk '
  {
    if (!match($0, /^[1-3]?[A-Za-z]+[0-9]+:[0-9]+ /)) { bad++; if (bad <= 5) print "no reference: " $0 > "/dev/stderr"; next }
    t = substr($0, RLENGTH + 1)
    gsub(/[ \t\r]+/, " ", t); sub(/^ /, "", t); sub(/ $/, "", t)
    if (t != "") print t
  }
  END { if (bad > 0) { print bad " lines without a verse reference" > "/dev/stderr"; exit 1 } }
' raw.txt >clean.txt

lines="$(wc -l <clean.txt)"
if [ "$lines" -lt 31000 ]; then
  echo "only $lines verses extracted (expected 31102); refusing to write $out" >&2
  exit 1
fi
if LC_ALL=C grep -q '[^ -~]' clean.txt; then
  echo "warning: the text has characters outside printable ASCII:" >&2
  LC_ALL=C grep -n '[^ -~]' clean.txt | head -n 5 >&2
fi
iconv -f UTF-8 -t UTF-8 clean.txt >/dev/null  # fails on invalid UTF-8

mv clean.txt "$out"
{
  echo "corpus: King James Version of the Bible (public domain), one verse per line, references stripped"
  echo "made by: tools/train-demo/prepare-corpus.sh"
  echo "text package: $(dpkg-deb -f "$text_deb" Package) $(dpkg-deb -f "$text_deb" Version) sha256 $(sha256sum "$text_deb" | cut -d' ' -f1)"
  echo "reader package: $(dpkg-deb -f "$reader_deb" Package) $(dpkg-deb -f "$reader_deb" Version) sha256 $(sha256sum "$reader_deb" | cut -d' ' -f1)"
  echo "verses: $lines"
  echo "bytes: $(wc -c <"$out")"
  echo "sha256: $(sha256sum "$out" | cut -d' ' -f1)"
} >"$out.source"

cat "$out.source"
echo "first lines:"; head -n 3 "$out"
echo "last line:"; tail -n 1 "$out"
