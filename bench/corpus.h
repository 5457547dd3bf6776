// The fixed corpus the benchmarks time: plugin_bench, gpu_check and, through
// plugin_bench --print-corpus, bench/use_lite_vs_tfjs.sh.
#ifndef HORNBEAM_BENCH_CORPUS_H_
#define HORNBEAM_BENCH_CORPUS_H_

#include <string>
#include <vector>

namespace hornbeam::tools {

// Varied on purpose: short and long, questions, lists, numbers, code,
// non-English, emoji. Average ~17 USE Lite tokens per text. Static storage.
const std::vector<std::string>& BenchCorpus();

}  // namespace hornbeam::tools

#endif  // HORNBEAM_BENCH_CORPUS_H_
