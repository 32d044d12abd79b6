#include "server/job_manager.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/pool_errors.h"
#include "server/cancel_token.h"
#include "server/process_stats.h"
#include "server/status_convert.h"

namespace jobpool {
namespace {

// Removes the entry registered under `id` from a list of (id, callback).
template <typename Entries>
void EraseId(Entries& entries, uint64_t id) {
  entries.erase(std::remove_if(entries.begin(), entries.end(),
                               [id](const auto& e) { return e.first == id; }),
                entries.end());
}

bool IsFinal(v1::JobState state) {
  return state != v1::JOB_STATE_PENDING && state != v1::JOB_STATE_RUNNING;
}

void ToProto(absl::Time t, google::protobuf::Timestamp* out) {
  const int64_t nanos = absl::ToUnixNanos(t);
  out->set_seconds(nanos / 1'000'000'000);
  out->set_nanos(static_cast<int32_t>(nanos % 1'000'000'000));
}

// Counts a finished job in JobTotals or BatchSummary (same field names).
template <typename Totals>
void Count(v1::JobState state, Totals* totals) {
  switch (state) {
    case v1::JOB_STATE_SUCCEEDED:
      totals->set_succeeded(totals->succeeded() + 1);
      break;
    case v1::JOB_STATE_FAILED:
      totals->set_failed(totals->failed() + 1);
      break;
    case v1::JOB_STATE_CANCELLED:
      totals->set_cancelled(totals->cancelled() + 1);
      break;
    case v1::JOB_STATE_TIMED_OUT:
      totals->set_timed_out(totals->timed_out() + 1);
      break;
    case v1::JOB_STATE_REJECTED:
      totals->set_rejected(totals->rejected() + 1);
      break;
    default:
      break;
  }
}

}  // namespace

struct JobManager::JobRecord {
  std::string id;
  std::string pool;
  const Kind* kind = nullptr;
  std::string payload;
  std::map<std::string, std::string> params;
  absl::Duration timeout = absl::InfiniteDuration();
  std::string key;
  std::string fingerprint;  // the request, for idempotency checks
  BatchRecord* batch = nullptr;
  std::string batch_id;

  v1::JobState state = v1::JOB_STATE_PENDING;
  std::string output;
  std::string error;
  absl::Time queued_at;
  absl::Time started_at;
  absl::Time finished_at;
  std::optional<Ticket> ticket;  // while queued in the pool
  bool admitted = false;
  std::shared_ptr<CancelToken> token;
  AdmitFn on_admit;
  std::vector<std::pair<uint64_t, JobFn>> waiters;
};

struct JobManager::BatchRecord {
  std::string id;
  std::string pool;
  bool fail_fast = false;
  bool sealed = false;
  bool failed_fast = false;
  std::vector<JobPtr> jobs;
  int64_t unfinished = 0;
  v1::BatchSummary summary;
  absl::Time finished_at = absl::InfinitePast();
  std::vector<std::pair<uint64_t, std::pair<bool, BatchFn>>> waiters;
  std::vector<std::pair<uint64_t, std::shared_ptr<JobFn>>> watchers;
  uint64_t next_waiter = 1;

  bool complete() const { return sealed && unfinished == 0; }
};

struct JobManager::PoolEntry {
  std::string name;
  std::unique_ptr<Pool> pool;
  v1::JobTotals totals;
  std::map<std::string, v1::JobTotals> kinds;
  LatencyWindow queue_wait;
  LatencyWindow run_time;
};

absl::StatusOr<std::unique_ptr<JobManager>> JobManager::Create(
    ManagerOptions options, std::vector<PoolConfig> pools,
    const KindRegistry* kinds) {
  if (pools.empty()) return absl::InvalidArgumentError("no pools configured");
  std::unique_ptr<JobManager> manager(
      new JobManager(std::move(options), kinds));
  absl::MutexLock lock(&manager->mu_);
  for (PoolConfig& config : pools) {
    if (config.name.empty() || config.name.find('/') != std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("bad pool name \"", config.name, "\""));
    }
    if (manager->pools_.contains(config.name)) {
      return absl::InvalidArgumentError(
          absl::StrCat("pool \"", config.name, "\" configured twice"));
    }
    auto pool = Pool::Create(config.size, std::move(config.options));
    if (!pool.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "pool \"", config.name, "\": ", pool.status().message()));
    }
    auto entry = std::make_unique<PoolEntry>();
    entry->name = config.name;
    entry->pool = *std::move(pool);
    manager->pools_.emplace(config.name, std::move(entry));
  }
  return manager;
}

JobManager::JobManager(ManagerOptions options, const KindRegistry* kinds)
    : options_(std::move(options)), kinds_(kinds), started_(absl::Now()) {}

JobManager::~JobManager() {
  // Take the pools out under the lock, then destroy them without it: each
  // pool's destructor waits for its running tasks, which may still finish
  // (and so lock mu_) meanwhile. They find the pool gone and skip it.
  std::vector<std::unique_ptr<Pool>> pools;
  {
    absl::MutexLock lock(&mu_);
    for (auto& [name, entry] : pools_) pools.push_back(std::move(entry->pool));
  }
  for (auto& pool : pools) pool->Release();
  pools.clear();
}

absl::Status JobManager::Refusal(absl::Status status) const {
  if (IsPoolOverload(status)) {
    return WithRetryDelay(std::move(status), options_.retry_after);
  }
  return status;
}

absl::StatusOr<JobManager::PoolEntry*> JobManager::FindPool(
    absl::string_view name) {
  if (name.empty()) name = "default";
  auto it = pools_.find(name);
  if (it == pools_.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown pool \"", name, "\""));
  }
  return it->second.get();
}

absl::StatusOr<JobManager::JobPtr> JobManager::NewJobLocked(
    PoolEntry& pool, const v1::JobSpec& spec, BatchRecord* batch,
    bool* reused) {
  *reused = false;
  if (draining_) {
    return WithRetryDelay(
        absl::UnavailableError("server is draining; retry on another replica"),
        options_.retry_after);
  }
  const Kind* kind = kinds_->Find(spec.kind());
  if (kind == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown job kind \"", spec.kind(), "\""));
  }
  if (static_cast<int64_t>(spec.payload().size()) >
      options_.max_payload_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "payload of ", spec.payload().size(), " bytes is over the limit of ",
        options_.max_payload_bytes));
  }
  if (spec.timeout().seconds() < 0 || spec.timeout().nanos() < 0) {
    return absl::InvalidArgumentError("timeout must not be negative");
  }
  std::map<std::string, std::string> params(spec.params().begin(),
                                            spec.params().end());
  if (kind->validate) {
    const absl::Status valid = kind->validate(JobInput{spec.payload(), params});
    if (!valid.ok()) return absl::InvalidArgumentError(valid.message());
  }
  // Only a keyed request needs its fingerprint, for the reuse check.
  std::string fingerprint;
  std::string key_slot;
  if (!spec.idempotency_key().empty()) {
    fingerprint = absl::StrCat(pool.name, "\n", spec.SerializeAsString());
    key_slot = absl::StrCat(pool.name, "\n", spec.idempotency_key());
    if (auto it = keys_.find(key_slot); it != keys_.end()) {
      auto job = jobs_.find(it->second);
      if (job != jobs_.end()) {
        if (job->second->fingerprint != fingerprint) {
          return absl::AlreadyExistsError(absl::StrCat(
              "idempotency key \"", spec.idempotency_key(),
              "\" was used for a different request (job ", it->second, ")"));
        }
        *reused = true;
        return job->second;
      }
    }
  }
  if (live_jobs_ >= options_.max_live_jobs) {
    return WithRetryDelay(
        absl::ResourceExhaustedError(
            absl::StrCat("retention full: ", live_jobs_, " unfinished jobs")),
        options_.retry_after);
  }
  auto job = std::make_shared<JobRecord>();
  job->id = absl::StrCat(options_.replica, "/", pool.name, "/", next_id_++);
  job->pool = pool.name;
  job->kind = kind;
  job->payload = spec.payload();
  job->params = std::move(params);
  if (spec.has_timeout()) {
    job->timeout = absl::Seconds(spec.timeout().seconds()) +
                   absl::Nanoseconds(spec.timeout().nanos());
  } else {
    job->timeout = options_.default_job_timeout;
  }
  job->key = spec.idempotency_key();
  job->fingerprint = std::move(fingerprint);
  job->queued_at = absl::Now();
  job->token = std::make_shared<CancelToken>();
  if (batch != nullptr) {
    job->batch = batch;
    job->batch_id = batch->id;
    batch->jobs.push_back(job);
    ++batch->unfinished;
    batch->summary.set_total(batch->summary.total() + 1);
  }
  jobs_.emplace(job->id, job);
  if (!job->key.empty()) keys_[key_slot] = job->id;
  ++live_jobs_;
  pool.totals.set_submitted(pool.totals.submitted() + 1);
  v1::JobTotals& kind_totals = pool.kinds[kind->name];
  kind_totals.set_submitted(kind_totals.submitted() + 1);
  return job;
}

absl::StatusOr<std::string> JobManager::Submit(absl::string_view pool_name,
                                               const v1::JobSpec& spec,
                                               AdmitFn on_admit) {
  JobPtr job;
  v1::Job snapshot;
  {
    absl::MutexLock lock(&mu_);
    auto pool = FindPool(pool_name);
    if (!pool.ok()) return pool.status();
    bool reused = false;
    auto made = NewJobLocked(**pool, spec, nullptr, &reused);
    if (!made.ok()) return made.status();
    job = *std::move(made);
    if (reused && job->state == v1::JOB_STATE_PENDING) {
      // The same request again, still queued: answer when it ends.
      job->waiters.emplace_back(0,
                                [cb = std::move(on_admit)](v1::Job j) mutable {
                                  cb(absl::OkStatus(), std::move(j));
                                });
      return job->id;
    }
    if (reused) snapshot = ToProtoLocked(*job);
  }
  if (!snapshot.id().empty()) {  // The same request again: as it stands.
    on_admit(absl::OkStatus(), std::move(snapshot));
    return job->id;
  }
  const absl::Status dispatched = Dispatch(job, std::move(on_admit));
  if (!dispatched.ok()) return dispatched;
  return job->id;
}

absl::Status JobManager::Dispatch(const JobPtr& job, AdmitFn on_admit) {
  Pool* pool;
  {
    absl::MutexLock lock(&mu_);
    job->on_admit = std::move(on_admit);
    pool = pools_.find(job->pool)->second->pool.get();
  }
  absl::StatusOr<Ticket> ticket = pool->SubmitAsync(
      [this, job] { Run(job); },
      [this, job](absl::Status status) { Admitted(job, std::move(status)); });
  if (!ticket.ok()) {
    absl::Status refusal = Refusal(ticket.status());
    {
      absl::MutexLock lock(&mu_);
      job->on_admit = nullptr;  // Refused at once: the caller hears it.
    }
    Finish(job, v1::JOB_STATE_REJECTED, "", std::string(refusal.message()));
    return refusal;
  }
  absl::MutexLock lock(&mu_);
  if (!job->admitted && !IsFinal(job->state)) job->ticket = *ticket;
  return absl::OkStatus();
}

void JobManager::Admitted(const JobPtr& job, absl::Status status) {
  if (!status.ok()) {
    // Withdrawn (Cancel) or refused after queueing (Release). The caller
    // waiting on admission hears it first, then the job's own waiters.
    const bool cancelled = status.code() == absl::StatusCode::kCancelled;
    AdmitFn on_admit;
    v1::Job snapshot;
    {
      absl::MutexLock lock(&mu_);
      on_admit = std::move(job->on_admit);
      job->on_admit = nullptr;
      if (cancelled && job->token->cancelled()) {
        status = absl::CancelledError(job->token->reason());
      }
      snapshot = ToProtoLocked(*job);
    }
    const std::string message(status.message());
    if (on_admit) on_admit(std::move(status), std::move(snapshot));
    Finish(job, cancelled ? v1::JOB_STATE_CANCELLED : v1::JOB_STATE_REJECTED,
           "", message);
    return;
  }
  AdmitFn on_admit;
  v1::Job snapshot;
  {
    absl::MutexLock lock(&mu_);
    job->admitted = true;
    job->ticket.reset();
    job->state = v1::JOB_STATE_RUNNING;
    job->started_at = absl::Now();
    if (job->timeout != absl::InfiniteDuration() && !job->token->cancelled()) {
      job->token =
          std::make_shared<CancelToken>(job->started_at + job->timeout);
    }
    pools_.find(job->pool)->second->queue_wait.Record(job->started_at -
                                                      job->queued_at);
    on_admit = std::move(job->on_admit);
    job->on_admit = nullptr;
    if (on_admit) snapshot = ToProtoLocked(*job);
  }
  if (on_admit) on_admit(absl::OkStatus(), std::move(snapshot));
}

void JobManager::Run(const JobPtr& job) {
  std::shared_ptr<CancelToken> token;
  {
    absl::MutexLock lock(&mu_);
    token = job->token;
  }
  if (token->cancelled()) {
    Finish(
        job,
        token->timed_out() ? v1::JOB_STATE_TIMED_OUT : v1::JOB_STATE_CANCELLED,
        "", token->reason());
    return;
  }
  absl::StatusOr<std::string> result =
      job->kind->run(JobInput{job->payload, job->params}, *token);
  if (token->cancelled()) {
    Finish(
        job,
        token->timed_out() ? v1::JOB_STATE_TIMED_OUT : v1::JOB_STATE_CANCELLED,
        "", token->reason());
  } else if (!result.ok()) {
    Finish(job, v1::JOB_STATE_FAILED, "",
           std::string(result.status().message()));
  } else {
    std::string output = *std::move(result);
    if (static_cast<int64_t>(output.size()) > options_.max_output_bytes) {
      output.resize(static_cast<size_t>(options_.max_output_bytes));
    }
    Finish(job, v1::JOB_STATE_SUCCEEDED, std::move(output), "");
  }
}

void JobManager::Finish(const JobPtr& job, v1::JobState state,
                        std::string output, std::string error) {
  std::vector<JobFn> job_waiters;
  std::vector<std::pair<bool, BatchFn>> batch_waiters;
  std::vector<Ticket> cancel_tickets;
  Pool* pool = nullptr;
  v1::Job snapshot;
  v1::WaitBatchResponse batch_full;
  v1::WaitBatchResponse batch_summary;
  std::vector<std::shared_ptr<JobFn>> batch_watchers;
  {
    absl::MutexLock lock(&mu_);
    if (IsFinal(job->state)) return;
    job->state = state;
    job->output = std::move(output);
    job->error = std::move(error);
    job->finished_at = absl::Now();
    job->ticket.reset();
    --live_jobs_;
    PoolEntry& entry = *pools_.find(job->pool)->second;
    pool = entry.pool.get();
    Count(state, &entry.totals);
    Count(state, &entry.kinds[job->kind->name]);
    if (job->admitted)
      entry.run_time.Record(job->finished_at - job->started_at);
    finished_jobs_.push_back(job->id);
    for (auto& [id, fn] : job->waiters) job_waiters.push_back(std::move(fn));
    job->waiters.clear();
    snapshot = ToProtoLocked(*job);
    if (BatchRecord* batch = job->batch; batch != nullptr) {
      --batch->unfinished;
      Count(state, &batch->summary);
      for (const auto& [id, fn] : batch->watchers) batch_watchers.push_back(fn);
      if (batch->fail_fast && !batch->failed_fast &&
          state != v1::JOB_STATE_SUCCEEDED) {
        batch->failed_fast = true;
        for (const JobPtr& other : batch->jobs) {
          (void)CancelLocked(other,
                             "cancelled: another job of the fail-fast "
                             "batch did not succeed",
                             &cancel_tickets);
        }
      }
      if (batch->complete()) {
        batch->finished_at = job->finished_at;
        finished_batches_.push_back(batch->id);
        for (auto& [id, waiter] : batch->waiters) {
          batch_waiters.push_back(std::move(waiter));
        }
        batch->waiters.clear();
        batch_summary = BatchToProtoLocked(*batch, false);
        for (const auto& w : batch_waiters) {
          if (w.first) {
            batch_full = BatchToProtoLocked(*batch, true);
            break;
          }
        }
      }
    }
    EvictLocked(job->finished_at);
  }
  if (pool != nullptr) {  // Null only while the manager is destroyed.
    for (Ticket ticket : cancel_tickets) pool->Cancel(ticket);
  }
  for (JobFn& fn : job_waiters) fn(snapshot);
  for (const auto& fn : batch_watchers) (*fn)(snapshot);
  for (auto& [full, fn] : batch_waiters) fn(full ? batch_full : batch_summary);
}

absl::Status JobManager::CancelLocked(const JobPtr& job, std::string reason,
                                      std::vector<Ticket>* tickets) {
  if (IsFinal(job->state)) return absl::OkStatus();
  job->token->Cancel(std::move(reason));
  if (job->ticket) {
    tickets->push_back(*job->ticket);
    job->ticket.reset();
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::Job> JobManager::GetJob(absl::string_view id) {
  absl::MutexLock lock(&mu_);
  auto job = FindJobLocked(id);
  if (!job.ok()) return job.status();
  return ToProtoLocked(**job);
}

absl::StatusOr<uint64_t> JobManager::WaitJob(absl::string_view id, JobFn done) {
  static std::atomic<uint64_t> next_waiter{1};
  v1::Job snapshot;
  {
    absl::MutexLock lock(&mu_);
    auto job = FindJobLocked(id);
    if (!job.ok()) return job.status();
    if (!IsFinal((*job)->state)) {
      const uint64_t waiter = next_waiter.fetch_add(1);
      (*job)->waiters.emplace_back(waiter, std::move(done));
      return waiter;
    }
    snapshot = ToProtoLocked(**job);
  }
  done(std::move(snapshot));
  return 0;
}

void JobManager::RemoveJobWaiter(absl::string_view id, uint64_t waiter) {
  absl::MutexLock lock(&mu_);
  auto job = FindJobLocked(id);
  if (!job.ok()) return;
  EraseId((*job)->waiters, waiter);
}

void JobManager::Abandon(absl::string_view id, uint64_t waiter) {
  std::vector<Ticket> tickets;
  Pool* pool = nullptr;
  {
    absl::MutexLock lock(&mu_);
    auto job = FindJobLocked(id);
    if (!job.ok()) return;
    EraseId((*job)->waiters, waiter);
    if ((*job)->state != v1::JOB_STATE_PENDING) return;
    pool = pools_.find((*job)->pool)->second->pool.get();
    (void)CancelLocked(*job, "cancelled: the submitting caller went away",
                       &tickets);
  }
  for (Ticket ticket : tickets) pool->Cancel(ticket);
}

absl::StatusOr<v1::Job> JobManager::CancelJob(absl::string_view id) {
  std::vector<Ticket> tickets;
  JobPtr job;
  Pool* pool;
  {
    absl::MutexLock lock(&mu_);
    auto found = FindJobLocked(id);
    if (!found.ok()) return found.status();
    job = *found;
    pool = pools_.find(job->pool)->second->pool.get();
    (void)CancelLocked(job, "cancelled by request", &tickets);
  }
  // A queued job is withdrawn here; its admission callback finishes it.
  for (Ticket ticket : tickets) pool->Cancel(ticket);
  absl::MutexLock lock(&mu_);
  return ToProtoLocked(*job);
}

absl::StatusOr<JobManager::JobPtr> JobManager::FindJobLocked(
    absl::string_view id) const {
  auto it = jobs_.find(id);
  if (it == jobs_.end()) {
    return absl::NotFoundError(absl::StrCat("unknown job \"", id, "\""));
  }
  return it->second;
}

absl::StatusOr<JobManager::BatchRecord*> JobManager::FindBatchLocked(
    absl::string_view id) const {
  auto it = batches_.find(id);
  if (it == batches_.end()) {
    return absl::NotFoundError(absl::StrCat("unknown batch \"", id, "\""));
  }
  return it->second.get();
}

void JobManager::EvictLocked(absl::Time now) {
  const absl::Time cutoff = now - options_.retention;
  while (!finished_jobs_.empty()) {
    auto it = jobs_.find(finished_jobs_.front());
    const bool gone = it == jobs_.end();
    if (!gone &&
        static_cast<int64_t>(finished_jobs_.size()) <=
            options_.max_retained_jobs &&
        it->second->finished_at > cutoff) {
      break;
    }
    if (!gone) {
      const JobRecord& job = *it->second;
      // A job stays while its batch is retained, so the batch can report it.
      if (job.batch != nullptr && batches_.contains(job.batch_id)) break;
      if (!job.key.empty()) keys_.erase(absl::StrCat(job.pool, "\n", job.key));
      jobs_.erase(it);
    }
    finished_jobs_.pop_front();
  }
  while (!finished_batches_.empty()) {
    auto it = batches_.find(finished_batches_.front());
    if (it != batches_.end() && it->second->finished_at > cutoff &&
        static_cast<int64_t>(finished_batches_.size()) <=
            options_.max_retained_jobs) {
      break;
    }
    if (it != batches_.end()) {
      for (const JobPtr& job : it->second->jobs) job->batch = nullptr;
      batches_.erase(it);
    }
    finished_batches_.pop_front();
  }
}

v1::Job JobManager::ToProtoLocked(const JobRecord& job) const {
  v1::Job out;
  out.set_id(job.id);
  out.set_pool(job.pool);
  out.set_kind(job.kind->name);
  out.set_state(job.state);
  out.set_output(job.output);
  out.set_error(job.error);
  ToProto(job.queued_at, out.mutable_queued_at());
  if (job.admitted) ToProto(job.started_at, out.mutable_started_at());
  if (IsFinal(job.state)) ToProto(job.finished_at, out.mutable_finished_at());
  out.set_batch_id(job.batch_id);
  out.set_idempotency_key(job.key);
  return out;
}

v1::WaitBatchResponse JobManager::BatchToProtoLocked(const BatchRecord& batch,
                                                     bool include_jobs) const {
  v1::WaitBatchResponse out;
  out.set_batch_id(batch.id);
  out.set_sealed(batch.sealed);
  out.set_complete(batch.complete());
  *out.mutable_summary() = batch.summary;
  const v1::BatchSummary& s = batch.summary;
  out.set_success(batch.complete() && s.succeeded() == s.total());
  int64_t pending = 0;
  int64_t running = 0;
  for (const JobPtr& job : batch.jobs) {
    if (job->state == v1::JOB_STATE_PENDING) ++pending;
    if (job->state == v1::JOB_STATE_RUNNING) ++running;
    if (include_jobs) *out.add_jobs() = ToProtoLocked(*job);
  }
  out.mutable_summary()->set_pending(pending);
  out.mutable_summary()->set_running(running);
  return out;
}

absl::StatusOr<v1::CreateBatchResponse> JobManager::CreateBatch(
    absl::string_view pool_name, const std::vector<const v1::JobSpec*>& specs,
    const v1::BatchOptions& options) {
  v1::CreateBatchResponse response;
  std::vector<JobPtr> jobs;
  {
    absl::MutexLock lock(&mu_);
    auto pool = FindPool(pool_name);
    if (!pool.ok()) return pool.status();
    if (draining_) {
      return WithRetryDelay(absl::UnavailableError("server is draining"),
                            options_.retry_after);
    }
    if (live_jobs_ + static_cast<int64_t>(specs.size()) >
        options_.max_live_jobs) {
      return WithRetryDelay(
          absl::ResourceExhaustedError("retention full: batch too large now"),
          options_.retry_after);
    }
    auto batch = std::make_unique<BatchRecord>();
    batch->id = absl::StrCat(options_.replica, "/batch/", next_id_++);
    batch->pool = (*pool)->name;
    batch->fail_fast = options.fail_fast();
    batch->sealed = options.seal();
    // Validate every job before recording any, so a bad one refuses all.
    for (const v1::JobSpec* spec : specs) {
      if (!spec->idempotency_key().empty()) {
        return absl::InvalidArgumentError(
            "jobs of a batch cannot carry idempotency keys");
      }
      if (kinds_->Find(spec->kind()) == nullptr) {
        return absl::InvalidArgumentError(
            absl::StrCat("unknown job kind \"", spec->kind(), "\""));
      }
    }
    BatchRecord* raw = batch.get();
    response.set_batch_id(batch->id);
    batches_.emplace(batch->id, std::move(batch));
    for (const v1::JobSpec* spec : specs) {
      bool reused = false;
      auto job = NewJobLocked(**pool, *spec, raw, &reused);
      if (!job.ok()) {
        // Jobs recorded so far stay, as REJECTED below; the rest never were.
        raw->sealed = true;
        break;
      }
      response.add_job_ids((*job)->id);
      jobs.push_back(*std::move(job));
    }
  }
  for (const JobPtr& job : jobs) {
    (void)Dispatch(job, nullptr);  // A refusal is recorded on the job.
  }
  return response;
}

absl::StatusOr<std::vector<std::string>> JobManager::AddToBatch(
    absl::string_view batch_id, const std::vector<const v1::JobSpec*>& specs) {
  std::vector<JobPtr> jobs;
  std::vector<std::string> ids;
  {
    absl::MutexLock lock(&mu_);
    auto batch = FindBatchLocked(batch_id);
    if (!batch.ok()) return batch.status();
    if ((*batch)->sealed) {
      return absl::FailedPreconditionError(
          absl::StrCat("batch \"", batch_id, "\" is sealed"));
    }
    auto pool = FindPool((*batch)->pool);
    if (!pool.ok()) return pool.status();
    for (const v1::JobSpec* spec : specs) {
      if (!spec->idempotency_key().empty()) {
        return absl::InvalidArgumentError(
            "jobs of a batch cannot carry idempotency keys");
      }
      if (kinds_->Find(spec->kind()) == nullptr) {
        return absl::InvalidArgumentError(
            absl::StrCat("unknown job kind \"", spec->kind(), "\""));
      }
    }
    for (const v1::JobSpec* spec : specs) {
      bool reused = false;
      auto job = NewJobLocked(**pool, *spec, *batch, &reused);
      if (!job.ok()) return job.status();
      ids.push_back((*job)->id);
      jobs.push_back(*std::move(job));
    }
  }
  for (const JobPtr& job : jobs) (void)Dispatch(job, nullptr);
  return ids;
}

absl::Status JobManager::SealBatch(absl::string_view batch_id) {
  std::vector<std::pair<bool, BatchFn>> waiters;
  v1::WaitBatchResponse full;
  v1::WaitBatchResponse summary;
  {
    absl::MutexLock lock(&mu_);
    auto batch = FindBatchLocked(batch_id);
    if (!batch.ok()) return batch.status();
    BatchRecord& b = **batch;
    if (b.sealed) return absl::OkStatus();
    b.sealed = true;
    if (!b.complete()) return absl::OkStatus();
    b.finished_at = absl::Now();
    finished_batches_.push_back(b.id);
    for (auto& [id, w] : b.waiters) waiters.push_back(std::move(w));
    b.waiters.clear();
    full = BatchToProtoLocked(b, true);
    summary = BatchToProtoLocked(b, false);
  }
  for (auto& [include, fn] : waiters) fn(include ? full : summary);
  return absl::OkStatus();
}

absl::StatusOr<v1::WaitBatchResponse> JobManager::GetBatch(
    absl::string_view batch_id, bool include_jobs) {
  absl::MutexLock lock(&mu_);
  auto batch = FindBatchLocked(batch_id);
  if (!batch.ok()) return batch.status();
  return BatchToProtoLocked(**batch, include_jobs);
}

absl::StatusOr<uint64_t> JobManager::WaitBatch(absl::string_view batch_id,
                                               bool include_jobs,
                                               BatchFn done) {
  v1::WaitBatchResponse now;
  {
    absl::MutexLock lock(&mu_);
    auto batch = FindBatchLocked(batch_id);
    if (!batch.ok()) return batch.status();
    if (!(*batch)->complete()) {
      const uint64_t id = (*batch)->next_waiter++;
      (*batch)->waiters.emplace_back(
          id, std::make_pair(include_jobs, std::move(done)));
      return id;
    }
    now = BatchToProtoLocked(**batch, include_jobs);
  }
  done(std::move(now));
  return 0;
}

void JobManager::RemoveBatchWaiter(absl::string_view batch_id,
                                   uint64_t waiter) {
  absl::MutexLock lock(&mu_);
  auto batch = FindBatchLocked(batch_id);
  if (!batch.ok()) return;
  EraseId((*batch)->waiters, waiter);
}

absl::StatusOr<uint64_t> JobManager::WatchBatchJobs(absl::string_view batch_id,
                                                    JobFn each) {
  absl::MutexLock lock(&mu_);
  auto batch = FindBatchLocked(batch_id);
  if (!batch.ok()) return batch.status();
  const uint64_t id = (*batch)->next_waiter++;
  (*batch)->watchers.emplace_back(id, std::make_shared<JobFn>(std::move(each)));
  return id;
}

void JobManager::RemoveBatchWatcher(absl::string_view batch_id,
                                    uint64_t watcher) {
  absl::MutexLock lock(&mu_);
  auto batch = FindBatchLocked(batch_id);
  if (!batch.ok()) return;
  EraseId((*batch)->watchers, watcher);
}

v1::PoolStats JobManager::PoolStatsLocked(const PoolEntry& entry) const {
  const PoolStats s = entry.pool->Stats();
  v1::PoolStats out;
  out.set_name(entry.name);
  out.set_state(s.closed ? v1::POOL_STATE_RELEASED : v1::POOL_STATE_OPEN);
  out.set_capacity(s.capacity);
  out.set_running(s.running);
  out.set_busy(s.busy);
  out.set_free(s.free);
  out.set_waiting(s.waiting);
  *out.mutable_totals() = entry.totals;
  for (const auto& [kind, totals] : entry.kinds) {
    v1::KindStats* k = out.add_kinds();
    k->set_kind(kind);
    *k->mutable_totals() = totals;
  }
  *out.mutable_queue_wait() = entry.queue_wait.Percentiles();
  *out.mutable_run_time() = entry.run_time.Percentiles();
  out.set_workers_spawned(s.spawned);
  out.set_workers_purged(s.purged);
  return out;
}

absl::StatusOr<v1::PoolStats> JobManager::Tune(absl::string_view pool_name,
                                               int size) {
  Pool* pool;
  {
    absl::MutexLock lock(&mu_);
    auto entry = FindPool(pool_name);
    if (!entry.ok()) return entry.status();
    pool = (*entry)->pool.get();
  }
  if (absl::Status s = pool->Tune(size); !s.ok()) return s;
  absl::MutexLock lock(&mu_);
  return PoolStatsLocked(**FindPool(pool_name));
}

absl::StatusOr<v1::PoolStats> JobManager::Reboot(absl::string_view pool_name) {
  Pool* pool;
  {
    absl::MutexLock lock(&mu_);
    auto entry = FindPool(pool_name);
    if (!entry.ok()) return entry.status();
    pool = (*entry)->pool.get();
  }
  pool->Reboot();
  absl::MutexLock lock(&mu_);
  return PoolStatsLocked(**FindPool(pool_name));
}

absl::StatusOr<v1::ReleaseResponse> JobManager::Release(
    absl::string_view pool_name, absl::Duration timeout) {
  Pool* pool;
  {
    absl::MutexLock lock(&mu_);
    auto entry = FindPool(pool_name);
    if (!entry.ok()) return entry.status();
    pool = (*entry)->pool.get();
  }
  const absl::Status released = pool->ReleaseTimeout(timeout);
  if (IsPoolClosed(released)) return released;
  v1::ReleaseResponse response;
  response.set_drained(released.ok());
  absl::MutexLock lock(&mu_);
  *response.mutable_pool() = PoolStatsLocked(**FindPool(pool_name));
  return response;
}

v1::StatsResponse JobManager::Stats() {
  v1::StatsResponse out;
  const ProcessStats process = ReadProcessStats();
  absl::MutexLock lock(&mu_);
  EvictLocked(absl::Now());
  out.set_replica(options_.replica);
  out.set_draining(draining_);
  ToProto(absl::Now() - started_, out.mutable_uptime());
  out.set_rss_bytes(process.rss_bytes);
  out.set_threads(process.threads);
  v1::JobTotals* totals = out.mutable_totals();
  for (const auto& [name, entry] : pools_) {
    *out.add_pools() = PoolStatsLocked(*entry);
    const v1::JobTotals& t = entry->totals;
    totals->set_submitted(totals->submitted() + t.submitted());
    totals->set_succeeded(totals->succeeded() + t.succeeded());
    totals->set_failed(totals->failed() + t.failed());
    totals->set_cancelled(totals->cancelled() + t.cancelled());
    totals->set_timed_out(totals->timed_out() + t.timed_out());
    totals->set_rejected(totals->rejected() + t.rejected());
  }
  out.set_retained_jobs(static_cast<int64_t>(jobs_.size()));
  out.set_retained_batches(static_cast<int64_t>(batches_.size()));
  return out;
}

void JobManager::Drain() {
  absl::MutexLock lock(&mu_);
  draining_ = true;
}

bool JobManager::draining() const {
  absl::MutexLock lock(&mu_);
  return draining_;
}

bool JobManager::AwaitIdle(absl::Time deadline) {
  const auto idle = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return live_jobs_ == 0;
  };
  absl::MutexLock lock(&mu_);
  if (mu_.AwaitWithDeadline(absl::Condition(&idle), deadline)) return true;
  std::vector<std::pair<Pool*, Ticket>> tickets;
  for (auto& [id, job] : jobs_) {
    std::vector<Ticket> mine;
    (void)CancelLocked(job, "cancelled: server shutting down", &mine);
    for (Ticket t : mine) {
      tickets.emplace_back(pools_.find(job->pool)->second->pool.get(), t);
    }
  }
  mu_.Unlock();
  for (auto& [pool, ticket] : tickets) pool->Cancel(ticket);
  mu_.Lock();
  return false;
}

}  // namespace jobpool
