// Clang's thread-safety analysis (-Wthread-safety), spelled as in Abseil and
// LevelDB. Other compilers see nothing.
//
//   GUARDED_BY(mu)     a member read and written only with `mu` held
//   REQUIRES(mu)       a function called with `mu` held
//   EXCLUDES(mu)       a function that takes `mu` itself
//   ACQUIRE/RELEASE    functions that lock and unlock
//
// Members used by exactly one thread say so in a comment instead: the
// analysis has no notion of "the loop thread".
#pragma once

#if defined(__clang__)
#define HB_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define HB_THREAD_ANNOTATION(x)
#endif

#define CAPABILITY(x) HB_THREAD_ANNOTATION(capability(x))
#define SCOPED_CAPABILITY HB_THREAD_ANNOTATION(scoped_lockable)
#define GUARDED_BY(x) HB_THREAD_ANNOTATION(guarded_by(x))
#define PT_GUARDED_BY(x) HB_THREAD_ANNOTATION(pt_guarded_by(x))
#define REQUIRES(...) HB_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define EXCLUDES(...) HB_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
#define ACQUIRE(...) HB_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define RELEASE(...) HB_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define RETURN_CAPABILITY(x) HB_THREAD_ANNOTATION(lock_returned(x))
#define NO_THREAD_SAFETY_ANALYSIS HB_THREAD_ANNOTATION(no_thread_safety_analysis)
