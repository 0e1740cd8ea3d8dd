// recur::dist (include/recur/dist.hpp) over MPI's C interface, or as one process without it.
//
// MPI starts only when mpirun (or a PMI/PMIx launcher) started this process: a plain
// `recur train` in an MPI build never touches MPI, so it runs exactly as in a build without.
#include "recur/dist.hpp"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>

#include "recur/autograd.hpp"
#include "recur/core/error.hpp"
#include "recur/ops.hpp"

#ifdef RECUR_WITH_MPI
#include <mpi.h>
#endif

namespace recur::dist {
namespace {

int g_rank = 0, g_size = 1, g_local_size = 1;
bool g_started = false;
// MPI_THREAD_SERIALIZED: the gradients' progress thread and the caller's thread call MPI,
// one at a time; every call below holds this.
std::mutex g_mpi;
bool g_progress_thread = false;  // MPI allows it (MPI_THREAD_SERIALIZED or more)

// Set by the launchers that start the processes of an MPI job: Open MPI's mpirun, and the
// PMI/PMIx of Slurm, Hydra (MPICH) and others.
bool launched_by_mpi() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE", "PMI_RANK"})
    if (std::getenv(name) != nullptr) return true;
  return false;
}

#ifdef RECUR_WITH_MPI
void check_mpi(int code, const char* what) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  throw Error(std::string("MPI: ") + what + " failed: " + std::string(text, static_cast<std::size_t>(length)));
}

MPI_Datatype mpi_type(const Tensor& t) {
  RECUR_CHECK(t.dtype() == DType::Float32 || t.dtype() == DType::Float64,
              "dist: only float32 and float64 tensors travel between processes, got " << t.dtype());
  return t.dtype() == DType::Float32 ? MPI_FLOAT : MPI_DOUBLE;
}

int mpi_count(std::int64_t n) {
  RECUR_CHECK(n <= std::int64_t{1} << 30, "dist: " << n << " values are more than one MPI message carries here");
  return static_cast<int>(n);
}

void finalize_at_exit() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}
#endif

void check_buffer(const Tensor& t, const char* what) {
  RECUR_CHECK(t.defined() && t.device().is_cpu() && t.is_contiguous(),
              "dist::" << what << ": needs a contiguous CPU tensor");
}

}  // namespace

void init(int& argc, char**& argv) {
  if (g_started || !launched_by_mpi()) return;
#ifdef RECUR_WITH_MPI
  int provided = MPI_THREAD_SINGLE;
  check_mpi(MPI_Init_thread(&argc, &argv, MPI_THREAD_SERIALIZED, &provided), "MPI_Init_thread");
  g_progress_thread = provided >= MPI_THREAD_SERIALIZED;
  std::atexit(finalize_at_exit);
  // Errors come back as codes (turned into recur::Error), not as an abort inside MPI.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &g_size);
  MPI_Comm local;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, g_rank, MPI_INFO_NULL, &local);
  MPI_Comm_size(local, &g_local_size);
  MPI_Comm_free(&local);
  g_started = true;
#else
  (void)argc, (void)argv;
  if (const char* n = std::getenv("OMPI_COMM_WORLD_SIZE"); n != nullptr && std::string(n) != "1")
    throw Error("this recur was built without MPI (RECUR_MPI), but mpirun started " + std::string(n) +
                " processes of it: each would train alone. Install libopenmpi-dev and rebuild (scripts/setup)");
#endif
}

bool built_with_mpi() {
#ifdef RECUR_WITH_MPI
  return true;
#else
  return false;
#endif
}

int rank() { return g_rank; }
int size() { return g_size; }
int local_size() { return g_local_size; }

void abort_all(int code) {
#ifdef RECUR_WITH_MPI
  if (g_started && g_size > 1) MPI_Abort(MPI_COMM_WORLD, code);
#endif
  std::exit(code);
}

void all_reduce_sum_(Tensor& t) {
  check_buffer(t, "all_reduce_sum_");
  if (g_size == 1) return;
#ifdef RECUR_WITH_MPI
  const std::lock_guard serial(g_mpi);
  check_mpi(MPI_Allreduce(MPI_IN_PLACE, t.raw_data(), mpi_count(t.numel()), mpi_type(t), MPI_SUM, MPI_COMM_WORLD),
            "MPI_Allreduce");
#endif
}

void barrier() {
  if (g_size == 1) return;
#ifdef RECUR_WITH_MPI
  const std::lock_guard serial(g_mpi);
  check_mpi(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier");
#endif
}

double sum_over_processes(double value) {
  if (g_size == 1) return value;
#ifdef RECUR_WITH_MPI
  const std::lock_guard serial(g_mpi);
  check_mpi(MPI_Allreduce(MPI_IN_PLACE, &value, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD), "MPI_Allreduce");
#endif
  return value;
}

void broadcast_(Tensor& t, int root) {
  check_buffer(t, "broadcast_");
  if (g_size == 1) return;
#ifdef RECUR_WITH_MPI
  const std::lock_guard serial(g_mpi);
  check_mpi(MPI_Bcast(t.raw_data(), mpi_count(t.numel()), mpi_type(t), root, MPI_COMM_WORLD), "MPI_Bcast");
#else
  (void)root;
#endif
}

Tensor all_gather(const Tensor& part, int dim) {
  if (g_size == 1) return part;
#ifdef RECUR_WITH_MPI
  // Each process's part travels whole (contiguous); the parts are then laid side by side.
  const Tensor mine = contiguous(part);
  std::vector<std::int64_t> extents(static_cast<std::size_t>(g_size));
  std::int64_t extent = mine.size(dim);
  const std::lock_guard serial(g_mpi);
  check_mpi(MPI_Allgather(&extent, 1, MPI_INT64_T, extents.data(), 1, MPI_INT64_T, MPI_COMM_WORLD), "MPI_Allgather");
  std::int64_t per_unit = 1;  // values per index of `dim`
  for (int d = 0; d < mine.dim(); ++d)
    if (d != (dim < 0 ? dim + mine.dim() : dim)) per_unit *= mine.size(d);
  std::vector<int> counts(static_cast<std::size_t>(g_size)), offsets(static_cast<std::size_t>(g_size));
  std::int64_t total = 0;
  for (int p = 0; p < g_size; ++p) {
    counts[p] = mpi_count(extents[p] * per_unit);
    offsets[p] = mpi_count(total);
    total += extents[p] * per_unit;
  }
  Tensor flat = empty({total}, mine.dtype());
  check_mpi(MPI_Allgatherv(mine.raw_data(), mpi_count(mine.numel()), mpi_type(mine), flat.raw_data(), counts.data(),
                           offsets.data(), mpi_type(mine), MPI_COMM_WORLD),
            "MPI_Allgatherv");
  std::vector<Tensor> parts;
  for (int p = 0; p < g_size; ++p) {
    std::vector<std::int64_t> shape(mine.shape().begin(), mine.shape().end());
    shape[static_cast<std::size_t>(dim < 0 ? dim + mine.dim() : dim)] = extents[p];
    parts.push_back(reshape(narrow(flat, 0, offsets[p], counts[p]), Shape(shape)));
  }
  return cat(parts, dim);
#else
  (void)dim;
  return part;
#endif
}

Range share(std::int64_t count, int part, int parts) {
  return {count * part / parts, count * (part + 1) / parts};
}

std::vector<double> gather_shares(std::int64_t items, int part, int parts,
                                  const std::function<std::vector<double>(std::int64_t, std::int64_t)>& values) {
  if (parts == 1) return values(0, items);
  const Range mine = share(items, part, parts);
  const std::vector<double> local = mine.end > mine.begin ? values(mine.begin, mine.end) : std::vector<double>{};
  return all_gather(from_vector(local, {static_cast<std::int64_t>(local.size())}), 0).to_vector<double>();
}

// The sums in flight, and a thread that advances them: Open MPI moves a non-blocking
// collective on only inside MPI calls, so without one a sum started early in the backward
// pass would still wait for finish_gradients. It tests them every 50 us while any is in
// flight, and sleeps otherwise.
struct DataParallel::Requests {
#ifdef RECUR_WITH_MPI
  std::vector<MPI_Request> started;  // these two under g_mpi
  int error = MPI_SUCCESS;           // the thread's
  std::mutex mutex;                  // guards in_flight and stop
  std::condition_variable wake;
  bool in_flight = false, stop = false;
  std::thread thread;

  void advance() {
    for (;;) {
      {
        std::unique_lock lock(mutex);
        wake.wait(lock, [&] { return stop || in_flight; });
        if (stop) return;
      }
      {
        const std::lock_guard serial(g_mpi);
        int done = 1;
        if (!started.empty() && error == MPI_SUCCESS)
          error = MPI_Testall(static_cast<int>(started.size()), started.data(), &done, MPI_STATUSES_IGNORE);
        if (done || error != MPI_SUCCESS) {
          const std::lock_guard lock(mutex);
          in_flight = false;
          continue;
        }
      }
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  }
#endif
};

DataParallel::DataParallel(std::vector<Tensor> parameters, std::int64_t bucket_bytes)
    : parameters_(std::move(parameters)),
      slots_(parameters_.size()),
      copied_(parameters_.size()),
      requests_(std::make_unique<Requests>()) {
  // Buckets of parameters consecutive in reverse order and of one dtype, each up to
  // bucket_bytes (a larger parameter alone).
  std::vector<std::int64_t> elements;
  std::vector<DType> dtypes;
  std::int64_t bytes = 0;
  for (std::size_t k = parameters_.size(); k-- > 0;) {
    const Tensor& p = parameters_[k];
    const std::int64_t size = p.numel() * static_cast<std::int64_t>(dtype_size(p.dtype()));
    const bool fits = !elements.empty() && bytes + size <= bucket_bytes && dtypes.back() == p.dtype();
    if (!fits) elements.push_back(0), dtypes.push_back(p.dtype()), missing_.push_back(0), bytes = 0;
    slots_[k] = {elements.size() - 1, elements.back()};
    elements.back() += p.numel();
    ++missing_.back();
    bytes += size;
  }
  for (std::size_t b = 0; b < elements.size(); ++b) flat_.push_back(empty({elements[b]}, dtypes[b]));
  for (std::size_t k = 0; k < parameters_.size(); ++k)
    hook_keys_.push_back(add_post_accumulate_grad_hook(parameters_[k], [this, k](const Tensor&) { gradient_ready(k); }));
#ifdef RECUR_WITH_MPI
  if (g_size > 1 && g_progress_thread) requests_->thread = std::thread([r = requests_.get()] { r->advance(); });
#endif
}

DataParallel::~DataParallel() {
  for (std::size_t k = 0; k < parameters_.size(); ++k) remove_post_accumulate_grad_hook(parameters_[k], hook_keys_[k]);
#ifdef RECUR_WITH_MPI
  if (requests_->thread.joinable()) {
    {
      const std::lock_guard lock(requests_->mutex);
      requests_->stop = true;
    }
    requests_->wake.notify_one();
    requests_->thread.join();
  }
#endif
}

void DataParallel::broadcast_parameters() {
  if (g_size == 1) return;
  for (Tensor& p : parameters_) {
    Tensor values = contiguous(p.detach());
    broadcast_(values);
    if (values.raw_data() != p.raw_data()) copy_(p.detach(), values);
  }
}

void DataParallel::prepare_for_backward(double weight) {
  RECUR_CHECK(!armed_, "DataParallel: prepare_for_backward called twice without finish_gradients");
  armed_ = true;
  weight_ = weight;
  next_bucket_ = 0;
  std::fill(copied_.begin(), copied_.end(), false);
  std::fill(missing_.begin(), missing_.end(), 0);
  for (const Slot& slot : slots_) ++missing_[slot.bucket];
}

// Runs inside backward, when parameter k's gradient for this pass is complete.
void DataParallel::gradient_ready(std::size_t k) {
  if (!armed_ || copied_[k]) return;
  const Tensor& p = parameters_[k];
  copy_(narrow(flat_[slots_[k].bucket], 0, slots_[k].offset, p.numel()), reshape(p.grad(), {p.numel()}));
  copied_[k] = true;
  --missing_[slots_[k].bucket];
  start_ready_buckets();
}

void DataParallel::start_ready_buckets() {
  for (; next_bucket_ < flat_.size() && missing_[next_bucket_] == 0; ++next_bucket_) {
    Tensor& flat = flat_[next_bucket_];
    mul_(flat, weight_);
    if (g_size == 1) continue;
#ifdef RECUR_WITH_MPI
    {
      const std::lock_guard serial(g_mpi);
      MPI_Request request;
      check_mpi(MPI_Iallreduce(MPI_IN_PLACE, flat.raw_data(), mpi_count(flat.numel()), mpi_type(flat), MPI_SUM,
                               MPI_COMM_WORLD, &request),
                "MPI_Iallreduce");
      requests_->started.push_back(request);
    }
    {
      const std::lock_guard lock(requests_->mutex);
      requests_->in_flight = true;
    }
    requests_->wake.notify_one();
#endif
  }
}

void DataParallel::finish_gradients() {
  RECUR_CHECK(armed_, "DataParallel: finish_gradients without prepare_for_backward");
  for (std::size_t k = 0; k < parameters_.size(); ++k) {
    if (copied_[k]) continue;  // a parameter this pass did not reach: zeros
    fill_(narrow(flat_[slots_[k].bucket], 0, slots_[k].offset, parameters_[k].numel()), 0.0);
    copied_[k] = true;
    --missing_[slots_[k].bucket];
  }
  start_ready_buckets();
#ifdef RECUR_WITH_MPI
  if (std::vector<MPI_Request>& started = requests_->started; !started.empty()) {
    const std::lock_guard serial(g_mpi);
    check_mpi(requests_->error, "MPI_Testall");
    check_mpi(MPI_Waitall(static_cast<int>(started.size()), started.data(), MPI_STATUSES_IGNORE), "MPI_Waitall");
    started.clear();
  }
#endif
  armed_ = false;
  for (std::size_t k = 0; k < parameters_.size(); ++k) {
    const Tensor& p = parameters_[k];
    const Tensor sum = reshape(narrow(flat_[slots_[k].bucket], 0, slots_[k].offset, p.numel()), p.shape());
    if (p.grad().defined()) copy_(p.grad(), sum);
    else p.set_grad(clone(sum));
  }
}

}  // namespace recur::dist
