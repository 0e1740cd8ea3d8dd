// recur: train recurrent language models and text classifiers, sample from them, measure
// them and predict with them. One file per subcommand; this one parses and reports errors.

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include <CLI/CLI.hpp>
#include <recur/recur.hpp>

#include "commands.hpp"

// OpenBLAS's own description of its build (version, kernel, thread model).
extern "C" char* openblas_get_config(void);

namespace {

// recur --version: the version and what this build computes with.
void print_version() {
  std::printf("recur %s\n", RECUR_VERSION);
  std::printf("  BLAS     %s\n", openblas_get_config());
  std::printf("  threads  %d (RECUR_NUM_THREADS or --threads change this)\n", recur::get_num_threads());
  std::printf("  CUDA     %s\n", RECUR_WITH_CUDA ? "yes" : "no (this build runs on the CPU only)");
}

// The --task of a `recur train` command line ("lm" when it names none): the train command
// declares the chosen task's flags, so the task is known before the command line is parsed.
std::string train_task(int argc, char** argv) {
  for (int i = 2; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--task" && i + 1 < argc) return argv[i + 1];
    if (arg.starts_with("--task=")) return std::string(arg.substr(7));
  }
  return "lm";
}

// An error ends the command; in a data-parallel run (mpirun) it ends every process, which
// would otherwise wait for this one in their next collective.
int fail(const char* message) {
  if (recur::dist::size() > 1) {
    std::fprintf(stderr, "recur: error (process %d of %d): %s\n", recur::dist::rank(), recur::dist::size(), message);
    recur::dist::abort_all(1);
  }
  std::fprintf(stderr, "recur: error: %s\n", message);
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  // A write past a file-size limit (ulimit -f) then fails with EFBIG, which recur reports
  // naming the file and stops in order, instead of the process dying silently of SIGXFSZ.
  std::signal(SIGXFSZ, SIG_IGN);
  CLI::App app{"recur: recurrent networks over characters or words: language models (char-rnn, done better)\n"
               "and text classifiers.\n"
               "  recur train [TEXT]        train a language model on a UTF-8 text (default: the bundled\n"
               "                            tinyshakespeare); --task classify DATA: a classifier of labelled texts\n"
               "  recur sample MODEL        generate text\n"
               "  recur eval MODEL TEXT     negative log-likelihood, bits per token, perplexity (a classifier:\n"
               "                            accuracy, macro-F1, per-class scores on labelled texts)\n"
               "  recur score MODEL [FILE]  the log-probability of each line as a sentence\n"
               "  recur predict MODEL [FILE]  a classifier's label for each line\n"
               "  recur info MODEL          what a model file holds\n"
               "  recur inspect MODEL TEXT --html OUT.html  a language model's cells and predictions over a\n"
               "                            text, as one HTML page\n"
               "  recur plot RUN_DIR...     the validation curves of several runs on one SVG chart",
               "recur"};
  app.require_subcommand(1);
  // Shown in --help; main() answers it before parsing, as it needs no command.
  bool version = false;
  app.add_flag("--version", version, "Print the version and the build's backends (BLAS, threads, CUDA)");
  // An option given twice takes its last value, as most command-line tools do (so a
  // wrapper's defaults can be overridden); the subcommands inherit this.
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  recur::cli::add_train_command(app, argc > 1 && std::string_view(argv[1]) == "train" ? train_task(argc, argv) : "lm");
  recur::cli::add_sample_command(app);
  recur::cli::add_eval_command(app);
  recur::cli::add_score_command(app);
  recur::cli::add_predict_command(app);
  recur::cli::add_info_command(app);
  recur::cli::add_inspect_command(app);
  recur::cli::add_plot_command(app);
  // CLI11 answers a missing or misspelt command with "A subcommand is required".
  std::string commands;
  for (const CLI::App* command : app.get_subcommands([](const CLI::App*) { return true; }))
    commands += (commands.empty() ? "" : ", ") + command->get_name();
  if (argc == 2 && std::string(argv[1]) == "--version") {
    print_version();
    return 0;
  }
  if (argc < 2) {
    std::fprintf(stderr, "recur: error: give a command: %s (see recur --help)\n", commands.c_str());
    return 1;
  }
  if (argv[1][0] != '-' && app.get_subcommands([&](const CLI::App* c) { return c->check_name(argv[1]); }).empty()) {
    std::fprintf(stderr, "recur: error: unknown command '%s'; the commands are %s (see recur --help)\n", argv[1],
                 commands.c_str());
    return 1;
  }
  try {
    recur::dist::init(argc, argv);
    // The processes of an mpirun on one machine share its cores (--threads still decides).
    if (recur::dist::local_size() > 1 && std::getenv("RECUR_NUM_THREADS") == nullptr)
      recur::set_num_threads(std::max(1, recur::get_num_threads() / recur::dist::local_size()));
    app.parse(argc, argv);  // runs the chosen subcommand's callback
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help
    std::fprintf(stderr, "recur: error: %s (see recur --help)\n", e.what());
    return e.get_exit_code();
  } catch (const std::exception& e) {  // recur::Error included
    return fail(e.what());
  }
  return 0;
}
