// hornbeamd: an Erlang C node that serves inference over plain rpc:call.
// main() parses the command line and hands over to App (daemon/app.h).
#include <ei.h>
#include <malloc.h>

#include <cstdio>

#include "base/log.h"
#include "config/config.h"
#include "daemon/app.h"
#include "daemon/blas_tuning.h"
#include "daemon/check_config.h"
#include "daemon/model_registry.h"
#include "daemon/version.h"

int main(int argc, char** argv) {
  ei_init();  // once, before any thread starts
  // Replies of a batch are hundreds of KB to hundreds of MB. glibc would
  // map and unmap each such buffer afresh, and the page faults of touching
  // it again cost more than the work (bench/ml_bench.sh: a third of the
  // batch path). Kept in the heap, they are reused; App's periodic
  // malloc_trim still hands idle memory back.
  mallopt(M_MMAP_THRESHOLD, 256 << 20);
  mallopt(M_TRIM_THRESHOLD, 512 << 20);
  hb::Result<hb::Options> parsed = hb::ParseOptions(argc, argv);
  if (!parsed.ok()) {
    fprintf(stderr, "hornbeamd: %s\n%s", parsed.status().message().c_str(), hb::UsageText());
    return 2;
  }
  hb::Options options = std::move(parsed).value();
  if (options.help) {
    fputs(hb::UsageText(), stdout);
    return 0;
  }
  if (options.version) {
    printf("hornbeamd %s\n", HB_VERSION);
    return 0;
  }
  if (options.check_config) {
    std::string dir = options.plugin_dir.empty() ? hb::DefaultPluginDir() : options.plugin_dir;
    std::vector<std::string> problems = hb::CheckConfig(options, dir);
    for (const std::string& p : problems) fprintf(stderr, "hornbeamd: %s\n", p.c_str());
    if (!problems.empty()) return 1;
    printf("%s\n", hb::EffectiveConfigJson(options, dir).c_str());
    return 0;
  }
  hb::LogLevel level;
  if (!hb::ParseLogLevel(options.log_level, &level)) {
    fprintf(stderr, "hornbeamd: --log-level: unknown level '%s'\n", options.log_level.c_str());
    return 2;
  }
  hb::SetLogLevel(level);
  // OpenBLAS reads its kernels and threads when the first plugin linking it
  // loads: choose them now, while this is the only thread.
  hb::TuneBlasForModels(options, options.plugin_dir.empty() ? hb::DefaultPluginDir()
                                                            : options.plugin_dir);
  hb::App app(std::move(options));
  return app.Run();
}
