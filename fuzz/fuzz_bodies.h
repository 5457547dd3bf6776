// The bodies of hornbeamd's fuzz targets, shared by the libFuzzer mains
// (fuzz/*_fuzzer.cc, built with HB_FUZZ=ON and clang) and by the corpus
// replay test (tests/regression/fuzz_seed_corpus_test.cc, part of the normal
// unit test executable under any compiler and sanitizer).
//
// Each body takes arbitrary bytes, drives one untrusted-input path of the
// daemon exactly as production does, and checks invariants on the way. A
// violated invariant goes to the failure handler: by default it prints the
// invariant and aborts (what libFuzzer wants); the replay test installs one
// that throws so that Catch2 reports it.
//
// Input formats (seed corpus in fuzz/corpus/<target>/, generator in
// fuzz/gen_corpus.escript):
//
//   control    a byte stream as a connected peer sends it: 4-byte big-endian
//              length, then 'p' | versioned control term | [versioned
//              message], repeated; zero-length packets are ticks.
//   handshake  byte 0: mode bits (see kHs* in handshake_body.cc); the rest is
//              the stream a connecting peer sends: 2-byte framed handshake
//              packets and, once the handshake is done, 4-byte framed control
//              packets.
//   request    byte 0: how the term becomes a request (kReq* modes in
//              request_body.cc), byte 1: a selector (function table index,
//              options, tag shape), then a versioned term (131 ...), then a
//              "signal script": one byte per follow-up signal (DEMONITOR,
//              EXIT, LINK, peer down, ...).
//              Mode 10 instead takes a raw packet body (control term and
//              payload, no 'p') followed by (byte 1 & 7) script bytes.
//   config     the bytes are the text of a JSON configuration file.
//   tls        byte 0: mode bits (kTls* in tls_body.cc: raw ciphertext or
//              plaintext sent through a real TLS session, how reads and
//              writes are cut); the rest is what a TLS peer sends: inside
//              the session, 4-byte framed handshake packets, then control
//              packets.
//
// Thread: call from one thread at a time (the bodies keep no shared state
// apart from the memfd the config body reuses).
#pragma once

#include <cstddef>
#include <cstdint>

namespace hb::fuzz {

void FuzzControl(const uint8_t* data, size_t size);
void FuzzHandshake(const uint8_t* data, size_t size);
void FuzzRequest(const uint8_t* data, size_t size);
void FuzzConfig(const uint8_t* data, size_t size);
void FuzzTls(const uint8_t* data, size_t size);

// Called with a description of the violated invariant. Must not return
// normally (abort or throw).
using FailureHandler = void (*)(const char* file, int line, const char* what);
void SetFailureHandler(FailureHandler handler);

// Quietens the daemon's logging (bodies produce a lot of peer-error lines).
// The libFuzzer mains call this once; HB_FUZZ_LOG=1 in the environment keeps
// the logs.
void QuietLogs();

}  // namespace hb::fuzz
