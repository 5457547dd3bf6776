# shellcheck shell=bash
# Helpers shared by scripts/gpu-kit (which verifies the kit it made),
# scripts/gpu-check (which runs it on the GPU machine) and
# tests/gpu/kit_test.sh. Sourcing defines functions only.
#
# The kit (scripts/gpu-kit) is a folder holding models/use_lite/ as plain
# files and bin.tar.xz, lib.tar.xz, erlang.tar.xz (optional): what
# kit_unpack unpacks into a work folder:
#   bin/gpu_check, bin/hornbeamd, plugins/*.so, ebin/gpu_e2e.beam
#   lib/         the Debian libraries those need that a GPU image may lack
#   lib/compat/  libstdc++ and libgcc_s, used only when the system's are older
#   erlang/      erts, kernel and stdlib of Debian's erlang-base, bin/erl
# Nothing here exports LD_LIBRARY_PATH: callers give KIT_LD_PATH to the
# kit's own programs only, never to nvidia-smi or python.

# Libraries never carried: glibc's (the kit is built against glibc 2.36 and
# needs at most what kit_glibc_needed prints) and NVIDIA's, which come with
# the driver and the CUDA toolkit on the GPU machine.
KIT_SYSTEM_LIBS='^(ld-linux-x86-64|libc|libm|libpthread|libdl|librt|libutil|libresolv|libanl|libmvec|libnsl|libBrokenLocale|libthread_db)\.so'
KIT_NVIDIA_LIBS='^(libcuda|libcudart|libcublas|libcublasLt|libnvidia-[a-z-]+|libnvrtc)\.so'

# kit_unpack KIT WORK: unpacks every KIT/*.tar.xz into WORK; prints how.
# tar's xz filter needs the xz program; Python's tarfile (the GPU image has
# Python 3.12) is the fallback.
kit_unpack() {
  local kit="$1" work="$2" archive how=""
  for archive in "$kit"/*.tar.xz; do
    [[ -f "$archive" ]] || continue
    if command -v xz >/dev/null 2>&1 && tar -xJf "$archive" -C "$work" 2>/dev/null; then
      how="tar + xz"
    elif command -v python3 >/dev/null 2>&1 &&
      python3 - "$archive" "$work" <<'PY'; then
import sys, tarfile
with tarfile.open(sys.argv[1], "r:xz") as archive:
    if hasattr(tarfile, "tar_filter"):
        archive.extractall(sys.argv[2], filter="tar")
    else:
        archive.extractall(sys.argv[2])
PY
      how="python3 tarfile"
    else
      echo "kit_unpack: cannot unpack $archive (no xz, no python3 with lzma)" >&2
      return 1
    fi
  done
  [[ -n "$how" ]] || { echo "kit_unpack: no *.tar.xz in $kit" >&2; return 1; }
  echo "$how"
}

# kit_elves WORK: the kit's ELF files (programs, plugins, libraries, erts).
kit_elves() {
  local f
  while IFS= read -r -d '' f; do
    [[ "$(head -c 4 "$f" | od -An -c | tr -d ' ')" == '177ELF' ]] && printf '%s\n' "$f"
  done < <(find "$1" -type f \( -perm -u+x -o -name '*.so*' \) -print0 | sort -z)
}

# kit_missing WORK LDPATH: prints every "lib => not found" or "version
# `X' not found" that ldd reports for the kit's files with LDPATH first.
kit_missing() {
  local f
  while IFS= read -r f; do
    LD_LIBRARY_PATH="$2" ldd "$f" 2>&1 | grep -E 'not found' | sed "s|^|${f#"$1"/}: |" || true
  done < <(kit_elves "$1")
}

# kit_lib_path WORK: sets KIT_LD_PATH (WORK/lib, plus WORK/lib/compat when
# the system's libstdc++ or libgcc_s is missing or too old) and KIT_COMPAT
# (a sentence saying which).
kit_lib_path() {
  local work="$1"
  KIT_LD_PATH="$work/lib"
  KIT_COMPAT="system libstdc++ and libgcc_s"
  if command -v ldd >/dev/null 2>&1; then
    if kit_missing "$work" "$KIT_LD_PATH" | grep -qE 'libstdc\+\+|libgcc_s|GLIBCXX|CXXABI|GCC_'; then
      KIT_LD_PATH="$work/lib:$work/lib/compat"
      KIT_COMPAT="the kit's libstdc++ and libgcc_s (the system's are missing or older)"
    fi
  else
    KIT_LD_PATH="$work/lib:$work/lib/compat"
    KIT_COMPAT="the kit's libstdc++ and libgcc_s (no ldd to compare)"
  fi
}

# kit_strays WORK LDPATH: prints each library a kit file would load from
# outside WORK that is neither glibc's nor NVIDIA's (a library gpu-kit
# should have carried). Run where the build machine's libraries are all
# installed, this is what makes the kit self-contained.
kit_strays() {
  local work="$1" f soname path
  while IFS= read -r f; do
    while read -r soname path; do
      [[ "$soname" =~ $KIT_SYSTEM_LIBS || "$soname" =~ $KIT_NVIDIA_LIBS ]] && continue
      [[ "$path" == "$work"/* ]] && continue
      echo "${f#"$work"/}: $soname => $path"
    done < <(LD_LIBRARY_PATH="$2" ldd "$f" 2>/dev/null | awk '$2 == "=>" {print $1, $3}')
  done < <(kit_elves "$work")
}

# kit_glibc_needed WORK [SKIP]: the newest GLIBC_ symbol version any kit
# file needs, leaving out files under WORK/SKIP.
kit_glibc_needed() {
  local f
  while IFS= read -r f; do
    [[ -n "${2:-}" && "$f" == "$1/$2"/* ]] && continue
    objdump -T "$f" 2>/dev/null | grep -oE 'GLIBC_[0-9]+(\.[0-9]+)+' || true
  done < <(kit_elves "$1") | sort -uV | tail -n1
}

# kit_find_cuda_libs: sets KIT_CUDA_PATH to the folders holding
# libcublas.so.13 + libcublasLt.so.13 and, unless the loader already finds
# it, libcuda.so.1; KIT_CUDA_NOTE says which were used. Looks in the loader
# cache, $CUDA_HOME, /usr/local/cuda*, the driver's /usr/local/nvidia and
# Python's nvidia-* wheels (nvidia/cu13/lib, nvidia/cublas/lib). Returns 1
# when no cuBLAS 13 is found; a missing driver is left to instance_create,
# which names it.
kit_find_cuda_libs() {
  local dir candidates=() site
  KIT_CUDA_PATH="" KIT_CUDA_NOTE=""
  candidates+=("${CUDA_HOME:-/nonexistent}/lib64" /usr/local/cuda/lib64 /usr/local/cuda/lib
               /usr/local/cuda/targets/x86_64-linux/lib)
  for dir in /usr/local/cuda-13*/lib64 /usr/local/cuda-13*/targets/x86_64-linux/lib; do
    candidates+=("$dir")
  done
  if command -v python3 >/dev/null 2>&1; then
    while IFS= read -r site; do
      for dir in "$site"/nvidia/cu13/lib "$site"/nvidia/cublas/lib; do candidates+=("$dir"); done
    done < <(python3 -c 'import site, sys; print("\n".join(site.getsitepackages() + [site.getusersitepackages()]))' 2>/dev/null || true)
  fi
  local cublas=""
  if ldconfig -p 2>/dev/null | grep -q 'libcublasLt\.so\.13 '; then
    cublas="$(ldconfig -p | awk '/libcublas\.so\.13 / {print $NF; exit}')"
    [[ -n "$cublas" ]] && KIT_CUDA_NOTE="cuBLAS from the loader cache"
  fi
  if [[ -z "$KIT_CUDA_NOTE" ]]; then
    for dir in "${candidates[@]}"; do
      if [[ -e "$dir/libcublas.so.13" && -e "$dir/libcublasLt.so.13" ]]; then
        KIT_CUDA_PATH="$dir"
        KIT_CUDA_NOTE="cuBLAS from $dir"
        break
      fi
    done
  fi
  [[ -n "$KIT_CUDA_NOTE" ]] || return 1
  if ! ldconfig -p 2>/dev/null | grep -q 'libcuda\.so\.1 '; then
    for dir in /usr/local/nvidia/lib64 /usr/local/nvidia/lib /usr/lib/x86_64-linux-gnu /usr/lib64; do
      if [[ -e "$dir/libcuda.so.1" ]]; then
        KIT_CUDA_PATH="${KIT_CUDA_PATH:+$KIT_CUDA_PATH:}$dir"
        KIT_CUDA_NOTE+="; driver from $dir"
        break
      fi
    done
  else
    KIT_CUDA_NOTE+="; driver from the loader cache"
  fi
}
