#!/usr/bin/env bash
# Cut 5 s clips of real recorded music for the timbral agreement check (compare_timbral.py).
#
#   bash benchmarks/make_music_clips.sh [OUT_DIR] [N]      (default: data/music_clips, 80)
#
# Source: Debian's game-music packages hyperrogue-music, asc-music, wesnoth-1.16-music and
# frozen-bubble-data: produced music (electronic, rock, orchestral, pop) under GPL-2+. Each clip
# starts 40 % into a file (files shorter than 12 s: at 0); files shorter than 6 s (jingles,
# effects) are skipped, and so are cuts that land in silence (peak ≤ 0.001). 44.1 kHz, 16-bit,
# the file's own channels. Needs root (or passwordless sudo) for apt-get; the packages take
# ~190 MB.
# The audio is not part of this repository.
set -euo pipefail
out="${1:-data/music_clips}"
count="${2:-80}"
need=()
command -v sox >/dev/null || need+=(sox libsox-fmt-all)
for pkg in hyperrogue-music asc-music wesnoth-1.16-music frozen-bubble-data; do dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg"); done
if [ "${#need[@]}" -gt 0 ]; then
    sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo -n"
    echo "installing ${need[*]}" >&2
    $sudo apt-get install -y -q "${need[@]}" >/dev/null
fi
mkdir -p "$out"
i=0
for f in $(dpkg -L hyperrogue-music asc-music wesnoth-1.16-music frozen-bubble-data | grep -E '\.(ogg|mp3)$' | sort); do
    d=$(soxi -D "$f" 2>/dev/null) || continue
    awk -v d="$d" 'BEGIN { exit !(d >= 6) }' || continue
    start=$(awk -v d="$d" 'BEGIN { print (d > 12) ? d * 0.4 : 0 }')
    clip="$out/$(printf 'clip%03d' "$i").wav"
    sox -q "$f" -r 44100 -b 16 "$clip" trim "$start" 5 2>/dev/null || continue
    # A cut that lands in a pause is digital silence, not music: drop it.
    peak=$(sox "$clip" -n stat 2>&1 | awk '/^Maximum amplitude/ { print $3 }')
    if awk -v p="${peak:-0}" 'BEGIN { exit !(p > 0.001) }'; then
        i=$((i + 1))
    else
        rm -f "$clip"
    fi
    [ "$i" -ge "$count" ] && break
done
echo "wrote $i clips to $out"
