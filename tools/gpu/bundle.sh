#!/usr/bin/env bash
# Builds what a GPU host needs to run the CUDA tests and the decode probe without Maven: the core and
# CUDA jars (mii-core's test jar too: the fixture readers the CUDA tests share), their dependencies,
# the CUDA test classes and the BF16 reference. Run on a build machine:
#   tools/gpu/bundle.sh OUT_DIR        then copy OUT_DIR and the repository's fixtures to the GPU host
# and run tools/gpu/test-on-gpu.sh there (a Java 25 runtime is all it needs).
set -euo pipefail
out="${1:?usage: bundle.sh OUT_DIR}"
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
. scripts/java-env
case "$out" in /*) ;; *) out="$PWD/$out" ;; esac
# One reactor, so that mii-core and its test jar (the shared fixture readers) come from this build.
mvn -B -ntp -q -pl mii-core,mii-cuda -am package dependency:build-classpath -DskipTests \
  -Dmdep.includeScope=test -Dmdep.outputFile="$out.cp"
rm -rf "$out" && mkdir -p "$out/lib"
cp mii-core/target/mii-core-*.jar mii-cuda/target/mii-cuda-*.jar "$out/lib/"
tr ':' '\n' < "$out.cp" | grep -v '/mii-core/' | xargs -I{} cp {} "$out/lib/"
rm -f "$out.cp"
cp -r mii-cuda/target/test-classes "$out/test-classes"
echo "bundle in $out ($(du -sh "$out" | cut -f1))"
