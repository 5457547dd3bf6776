/* config.h for building erl_interface's ei from the sources erlang-dev ships
 * (${HB_EI_DIR}/src), instrumented like the rest of a fuzz build, so that
 * AddressSanitizer sees every byte ei reads. Only fuzz/CMakeLists.txt uses
 * it; the values are those of Debian 12's amd64/arm64 build (LP64, glibc). */
#ifndef HB_FUZZ_EI_CONFIG_H
#define HB_FUZZ_EI_CONFIG_H

#define SIZEOF_VOID_P 8
#define SIZEOF_LONG 8
#define SIZEOF_INT 4
#define SIZEOF_LONG_LONG 8
#define EI_64BIT 1
#define HAVE_ISFINITE 1
#define HAVE_PTHREAD_H 1
#define HAVE_SYS_TIME_H 1
#define HAVE_SYS_UIO_H 1
#define HAVE_SYS_SELECT_H 1
#define HAVE_WRITEV 1
#define HAVE_SOCKLEN_T 1
#define HAVE_SYSCONF 1
#define HAVE_UNALIGNED_WORD_ACCESS 1

#endif
