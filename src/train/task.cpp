// The table of tasks: a name for --task and the run's options, and how to make each.

#include "recur/train/task.hpp"

#include "recur/train/classify_task.hpp"
#include "recur/train/language_model_task.hpp"
#include "recur/train/seq2seq_task.hpp"
#include "recur/train/tag_task.hpp"

namespace recur::train {

const std::vector<std::string>& task_names() {
  static const std::vector<std::string> names = {"lm", "classify", "tag", "seq2seq"};
  return names;
}

void Task::set_part(int /*part*/, int parts) {
  RECUR_CHECK(parts == 1, "--task " << name() << " cannot be trained by several processes yet (mpirun -np " << parts
                                    << "); run it as one process");
}

std::unique_ptr<Task> make_task(const std::string& name, const std::string& default_text) {
  if (name == "lm") return std::make_unique<LanguageModelTask>(default_text);
  if (name == "classify") return std::make_unique<ClassifyTask>();
  if (name == "tag") return std::make_unique<TagTask>();
  if (name == "seq2seq") return std::make_unique<Seq2SeqTask>();
  RECUR_FAIL("unknown task '" << name << "' (expected lm, classify, tag or seq2seq)");
}

}  // namespace recur::train
