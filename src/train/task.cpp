// The table of tasks: a name for --task and the run's options, and how to make each; and
// batch_part, the examples of a batch that a process of a data-parallel run takes.

#include "recur/train/task.hpp"

#include "recur/dist.hpp"
#include "recur/train/classify_task.hpp"
#include "recur/train/language_model_task.hpp"
#include "recur/train/seq2seq_task.hpp"
#include "recur/train/tag_task.hpp"

namespace recur::train {

const std::vector<std::string>& task_names() {
  static const std::vector<std::string> names = {"lm", "classify", "tag", "seq2seq"};
  return names;
}

BatchPart batch_part(const std::vector<std::int64_t>& picked, int part, int parts,
                     const std::function<double(std::int64_t)>& weight_of) {
  if (parts == 1) return {picked, 1.0, 0};
  const dist::Range mine = dist::share(static_cast<std::int64_t>(picked.size()), part, parts);
  double all = 0, share = 0;
  for (std::size_t k = 0; k < picked.size(); ++k) {
    const double w = weight_of(picked[k]);
    all += w;
    if (static_cast<std::int64_t>(k) >= mine.begin && static_cast<std::int64_t>(k) < mine.end) share += w;
  }
  if (mine.begin == mine.end) return {{picked.front()}, 0.0, 0};
  return {{picked.begin() + mine.begin, picked.begin() + mine.end}, all > 0 ? share / all : 0.0, mine.begin};
}

std::unique_ptr<Task> make_task(const std::string& name, const std::string& default_text) {
  if (name == "lm") return std::make_unique<LanguageModelTask>(default_text);
  if (name == "classify") return std::make_unique<ClassifyTask>();
  if (name == "tag") return std::make_unique<TagTask>();
  if (name == "seq2seq") return std::make_unique<Seq2SeqTask>();
  RECUR_FAIL("unknown task '" << name << "' (expected lm, classify, tag or seq2seq)");
}

}  // namespace recur::train
