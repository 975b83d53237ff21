#!/usr/bin/env bash
# Packs what `./mii` needs on a host with only a Java 25 runtime (no Maven, no JDK): the launcher,
# scripts/java-env and scripts/jvm.options, the mii-cli jar and its runtime jars (core, server, CUDA backend with its kernel
# fatbin, dependencies). Run on a build machine:
#   tools/gpu/bundle-cli.sh OUT.tar.gz
# then on the GPU host:
#   mkdir mii-j && tar xzf OUT.tar.gz -C mii-j && JAVA_HOME=/path/to/jre mii-j/mii bench --device cuda ...
set -euo pipefail
out="${1:?usage: bundle-cli.sh OUT.tar.gz}"
case "$out" in /*) ;; *) out="$PWD/$out" ;; esac
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
. scripts/java-env
mvn -B -ntp -q -DskipTests package
unzip -l mii-cuda/target/mii-cuda-*.jar | grep -q kernels.fatbin \
  || echo "warning: no nvcc here, so the CUDA kernels are compiled by NVRTC on the GPU host at first use" >&2
tar czf "$out" mii scripts/java-env scripts/jvm.options mii-cli/target/mii-cli-*.jar mii-cli/target/lib
echo "bundle in $out ($(du -h "$out" | cut -f1))"
