#!/usr/bin/env bash
# The MesoNet weights and sample crops, laid out as ../shared/models/mesonet holds them, from
# the public DariusAf/MesoNet repository (Apache-2.0), each checked against its sha256. The
# GitHub workflows cache the folder, so they download it once.
# Usage: scripts/fetch-mesonet.sh DIR
set -euo pipefail

dest=${1:?usage: scripts/fetch-mesonet.sh DIR}
base=https://github.com/DariusAf/MesoNet/raw/master
# upstream path, local path, sha256
files=(
    "weights/Meso4_DF.h5 Meso4_DF.h5 036ed30d04ffd9c7506f825b97c86aa64915f5818931da96817b169aad790af5"
    "weights/Meso4_F2F.h5 Meso4_F2F.h5 bcfda015d217b9f8d6557693edbdf9f4e79cfd22672541968dd0e2954462b5d7"
    "weights/MesoInception_DF.h5 MesoInception_DF.h5 234586d40058e76ef8b6f27ca4b63c06e31c2a5a69c0d8ba6f30b1468ab7bafa"
    "weights/MesoInception_F2F.h5 MesoInception_F2F.h5 d4533ac8a3197dc35c47405d23d99e888c1d0135e267e03540c7451feaccff3f"
    "test_images/df/df00204.jpg samples/df/df00204.jpg ab1e881cd875b295e0c33e46ca464bd34ab5bf8e7629e0d0621a84159020832d"
    "test_images/df/df01254.jpg samples/df/df01254.jpg 825cfdefc02c917df65cae3b91883d3fa0eb080cedc87e9619866a603543ce17"
    "test_images/real/real00240.jpg samples/real/real00240.jpg cde8c693fbc0dd5366e64013c571cfd5da7a2927eab2b204b2fb0af18e122644"
    "test_images/real/real00772.jpg samples/real/real00772.jpg 05ec7cf7d3df30b1c21c30128bf73dd6236d176a04dbf77af7560c7fd9435641"
)
for entry in "${files[@]}"; do
    read -r upstream local sha256 <<<"$entry"
    target=$dest/$local
    if [[ -f $target ]] && echo "$sha256  $target" | sha256sum --check --status; then
        continue
    fi
    mkdir -p "$(dirname "$target")"
    curl -fsSL --retry 3 -o "$target.part" "$base/$upstream"
    echo "$sha256  $target.part" | sha256sum --check --quiet
    mv "$target.part" "$target"
done
echo "MesoNet weights and samples in $dest"
