#include "server/job_manager.h"

#include <openssl/sha.h>

#include <algorithm>
#include <exception>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/pool_errors.h"
#include "core/status_macros.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "proto/status_convert.h"
#include "server/job_manager_internal.h"

namespace jobpool {

using internal::Count;
using internal::EraseId;
using internal::IsFinal;

namespace {

// An idempotency key is an identifier, not data.
constexpr size_t kMaxIdempotencyKeyBytes = 256;

// What a keyed request is compared by: a digest, not the request (whose
// payload may be megabytes) kept for as long as the key.
std::string Fingerprint(absl::string_view pool, const v1::JobSpec& spec) {
  // Deterministic: map fields (the parameters) in a stable order.
  std::string request = absl::StrCat(pool, "\n");
  {
    google::protobuf::io::StringOutputStream out(&request);
    google::protobuf::io::CodedOutputStream coded(&out);
    coded.SetSerializationDeterministic(true);
    spec.SerializeToCodedStream(&coded);
  }
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(request.data()), request.size(),
         digest);
  return std::string(reinterpret_cast<const char*>(digest), sizeof digest);
}

}  // namespace

absl::StatusOr<std::unique_ptr<JobManager>> JobManager::Create(
    ManagerOptions options, std::vector<PoolConfig> pools,
    const KindRegistry* kinds) {
  if (pools.empty()) return absl::InvalidArgumentError("no pools configured");
  std::unique_ptr<JobManager> manager(
      new JobManager(std::move(options), kinds));
  internal::MutexLock lock(&manager->mu_);
  for (PoolConfig& config : pools) {
    if (config.name.empty() || absl::StrContains(config.name, '/')) {
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
    internal::MutexLock lock(&mu_);
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

absl::StatusOr<const Kind*> JobManager::CheckSpec(
    const v1::JobSpec& spec) const {
  const Kind* kind = kinds_->Find(spec.kind());
  if (kind == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown job kind \"", spec.kind(), "\""));
  }
  if (static_cast<int64_t>(spec.payload().size()) >
      options_.max_payload_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "payload of ", spec.payload().size(), " bytes is over the limit of ",
        options_.max_payload_bytes, " (--max_payload_bytes)"));
  }
  if (spec.params_size() > options_.max_params) {
    return absl::InvalidArgumentError(
        absl::StrCat(spec.params_size(), " parameters are over the limit of ",
                     options_.max_params, " (--max_params)"));
  }
  for (const auto& [name, value] : spec.params()) {
    if (static_cast<int64_t>(name.size() + value.size()) >
        options_.max_param_bytes) {
      return absl::InvalidArgumentError(
          absl::StrCat("parameter \"", name.substr(0, 64), "\" is ",
                       name.size() + value.size(), " bytes, over the limit of ",
                       options_.max_param_bytes, " (--max_param_bytes)"));
    }
  }
  if (spec.idempotency_key().size() > kMaxIdempotencyKeyBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("idempotency key of ", spec.idempotency_key().size(),
                     " bytes is over the limit of ", kMaxIdempotencyKeyBytes));
  }
  if (spec.timeout().seconds() < 0 || spec.timeout().nanos() < 0) {
    return absl::InvalidArgumentError("timeout must not be negative");
  }
  if (kind->validate) {
    const std::map<std::string, std::string> params(spec.params().begin(),
                                                    spec.params().end());
    const absl::Status valid = kind->validate(JobInput{spec.payload(), params});
    if (!valid.ok()) return absl::InvalidArgumentError(valid.message());
  }
  return kind;
}

absl::Status JobManager::CheckBatchSpecs(
    const std::vector<const v1::JobSpec*>& specs) const {
  for (const v1::JobSpec* spec : specs) {
    if (!spec->idempotency_key().empty()) {
      return absl::InvalidArgumentError(
          "jobs of a batch cannot carry idempotency keys");
    }
    if (auto checked = CheckSpec(*spec); !checked.ok()) return checked.status();
  }
  return absl::OkStatus();
}

absl::StatusOr<JobManager::JobPtr> JobManager::NewJobLocked(
    PoolEntry& pool, const v1::JobSpec& spec, BatchRecord* batch,
    bool* reused) {
  *reused = false;
  if (draining_) {
    if (observer_ != nullptr) observer_->JobRefused(pool.name, "draining");
    return WithRetryDelay(
        absl::UnavailableError("server is draining; retry on another replica"),
        options_.retry_after);
  }
  auto checked = CheckSpec(spec);
  if (!checked.ok()) return checked.status();
  const Kind* kind = *checked;
  std::map<std::string, std::string> params(spec.params().begin(),
                                            spec.params().end());
  // Only a keyed request needs its fingerprint, for the reuse check.
  std::string fingerprint;
  std::string key_slot;
  if (!spec.idempotency_key().empty()) {
    fingerprint = Fingerprint(pool.name, spec);
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
  if (!key_slot.empty() &&
      static_cast<int64_t>(keys_.size()) >= options_.max_idempotency_keys) {
    if (observer_ != nullptr) {
      observer_->JobRefused(pool.name, "retention_full");
    }
    return WithRetryDelay(
        absl::ResourceExhaustedError(absl::StrCat(
            "idempotency keys full: ", keys_.size(),
            " retained (--max_idempotency_keys); retry later or submit "
            "without a key")),
        options_.retry_after);
  }
  const auto payload_bytes = static_cast<int64_t>(spec.payload().size());
  if (absl::Status room = RoomLocked(pool, 1, payload_bytes); !room.ok()) {
    return room;
  }
  if (live_jobs_ >= options_.max_live_jobs) {
    if (observer_ != nullptr) {
      observer_->JobRefused(pool.name, "retention_full");
    }
    return WithRetryDelay(absl::ResourceExhaustedError(absl::StrCat(
                              "retention full: ", live_jobs_,
                              " unfinished jobs (--max_retained_jobs)")),
                          options_.retry_after);
  }
  auto job = std::make_shared<JobRecord>();
  job->id = absl::StrCat(options_.replica, "/", pool.name, "/", next_id_++);
  job->pool = pool.name;
  job->kind = kind;
  job->payload = spec.payload();
  job->payload_bytes = payload_bytes;
  live_payload_bytes_ += payload_bytes;
  job->params = std::move(params);
  if (spec.has_timeout()) {
    job->timeout = absl::Seconds(spec.timeout().seconds()) +
                   absl::Nanoseconds(spec.timeout().nanos());
  } else {
    job->timeout = options_.default_job_timeout;
  }
  job->timeout = std::min(job->timeout, kind->timeout);
  job->key = spec.idempotency_key();
  job->fingerprint = std::move(fingerprint);
  if (observer_ != nullptr) observer_->JobSubmitted(pool.name, kind->name);
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

absl::StatusOr<JobManager::Submission> JobManager::Submit(
    absl::string_view pool_name, const v1::JobSpec& spec, AdmitFn on_admit,
    JobFn on_finish) {
  JobPtr job;
  Submission submission;
  bool reused = false;
  JobFn finish_now;  // `on_finish` of a reused job that has already ended.
  v1::Job snapshot;
  {
    internal::MutexLock lock(&mu_);
    auto pool = FindPool(pool_name);
    if (!pool.ok()) return pool.status();
    auto made = NewJobLocked(**pool, spec, nullptr, &reused);
    if (!made.ok()) return made.status();
    job = *std::move(made);
    submission.id = job->id;
    // Registered with the job itself, so even a job that ends (and is
    // forgotten) at once cannot slip past its caller.
    if (on_finish && IsFinal(job->state)) {
      finish_now = std::move(on_finish);
    } else if (on_finish) {
      submission.waiter = next_waiter_++;
      job->waiters.emplace_back(submission.waiter, std::move(on_finish));
    }
    if (reused && job->state == v1::JOB_STATE_PENDING) {
      // The same request again, still queued: answer when it ends.
      job->waiters.emplace_back(0,
                                [cb = std::move(on_admit)](v1::Job j) mutable {
                                  cb(absl::OkStatus(), std::move(j));
                                });
      return submission;
    }
    if (reused) snapshot = ToProtoLocked(*job);
  }
  if (reused) {  // The same request again: as it stands.
    if (finish_now) finish_now(snapshot);
    on_admit(absl::OkStatus(), std::move(snapshot));
    return submission;
  }
  JOBPOOL_RETURN_IF_ERROR(
      Dispatch(job, std::move(on_admit), submission.waiter));
  return submission;
}

absl::Status JobManager::Dispatch(const JobPtr& job, AdmitFn on_admit,
                                  uint64_t caller_waiter) {
  Pool* pool;
  {
    internal::MutexLock lock(&mu_);
    job->on_admit = std::move(on_admit);
    pool = pools_.find(job->pool)->second->pool.get();
  }
  absl::StatusOr<Ticket> ticket = pool->SubmitAsync(
      [this, job] { Run(job); },
      [this, job](absl::Status status) { Admitted(job, std::move(status)); });
  if (!ticket.ok()) {
    absl::Status refusal = Refusal(ticket.status());
    {
      internal::MutexLock lock(&mu_);
      // Refused at once: the caller hears it from the return value.
      job->on_admit = nullptr;
      job->reject_reason = IsPoolOverload(refusal) ? "overloaded" : "released";
      EraseId(job->waiters, caller_waiter);
    }
    Finish(job, v1::JOB_STATE_REJECTED, "", std::string(refusal.message()));
    return refusal;
  }
  internal::MutexLock lock(&mu_);
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
      internal::MutexLock lock(&mu_);
      on_admit = std::move(job->on_admit);
      job->on_admit = nullptr;
      if (cancelled && job->token->IsCancelled()) {
        status = absl::CancelledError(job->token->Reason());
      }
      if (!cancelled) job->reject_reason = "released";
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
    internal::MutexLock lock(&mu_);
    job->admitted = true;
    job->ticket.reset();
    job->state = v1::JOB_STATE_RUNNING;
    job->started_at = absl::Now();
    if (job->timeout != absl::InfiniteDuration() &&
        !job->token->IsCancelled()) {
      job->token =
          std::make_shared<CancelToken>(job->started_at + job->timeout);
    }
    PoolEntry& pool = *pools_.find(job->pool)->second;
    pool.queue_wait.Record(job->started_at - job->queued_at);
    pool.running.insert(job.get());
    if (observer_ != nullptr) {
      observer_->JobStarted(job->pool, job->kind->name,
                            job->started_at - job->queued_at);
    }
    on_admit = std::move(job->on_admit);
    job->on_admit = nullptr;
    if (on_admit) snapshot = ToProtoLocked(*job);
  }
  if (on_admit) on_admit(absl::OkStatus(), std::move(snapshot));
}

void JobManager::Run(const JobPtr& job) {
  std::shared_ptr<CancelToken> token;
  std::string payload;  // Freed when the handler is done with it.
  {
    internal::MutexLock lock(&mu_);
    token = job->token;
    payload = std::move(job->payload);
  }
  if (token->IsCancelled()) {
    Finish(
        job,
        token->TimedOut() ? v1::JOB_STATE_TIMED_OUT : v1::JOB_STATE_CANCELLED,
        "", token->Reason());
    return;
  }
  absl::StatusOr<std::string> result;
  // An embedded handler may throw: the job then fails, it is never lost.
  try {
    JobContext context(*token, *job->report);
    result = job->kind->run(JobInput{payload, job->params}, context);
  } catch (const std::exception& e) {
    result = absl::InternalError(absl::StrCat("handler threw: ", e.what()));
  } catch (...) {
    result = absl::InternalError("handler threw an exception of unknown type");
  }
  if (token->IsCancelled()) {
    Finish(
        job,
        token->TimedOut() ? v1::JOB_STATE_TIMED_OUT : v1::JOB_STATE_CANCELLED,
        "", token->Reason());
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
    internal::MutexLock lock(&mu_);
    if (IsFinal(job->state)) return;
    job->state = state;
    job->output = std::move(output);
    job->error = std::move(error);
    std::string().swap(job->payload);
    live_payload_bytes_ -= job->payload_bytes;
    retained_output_bytes_ += static_cast<int64_t>(job->output.size());
    job->finished_at = absl::Now();
    job->ticket.reset();
    if (--live_jobs_ == 0) idle_cv_.SignalAll();
    PoolEntry& entry = *pools_.find(job->pool)->second;
    pool = entry.pool.get();
    Count(state, &entry.totals);
    Count(state, &entry.kinds[job->kind->name]);
    if (job->admitted) {
      entry.run_time.Record(job->finished_at - job->started_at);
    }
    entry.running.erase(job.get());
    if (observer_ != nullptr) {
      observer_->JobFinished(job->pool, job->kind->name, state,
                             job->admitted ? job->finished_at - job->started_at
                                           : absl::ZeroDuration(),
                             job->reject_reason);
    }
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
      if (batch->IsComplete()) {
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
  internal::MutexLock lock(&mu_);
  auto job = FindJobLocked(id);
  if (!job.ok()) return job.status();
  return ToProtoLocked(**job);
}

absl::StatusOr<uint64_t> JobManager::WaitJob(absl::string_view id, JobFn done) {
  v1::Job snapshot;
  {
    internal::MutexLock lock(&mu_);
    auto job = FindJobLocked(id);
    if (!job.ok()) return job.status();
    if (!IsFinal((*job)->state)) {
      const uint64_t waiter = next_waiter_++;
      (*job)->waiters.emplace_back(waiter, std::move(done));
      return waiter;
    }
    snapshot = ToProtoLocked(**job);
  }
  done(std::move(snapshot));
  return 0;
}

void JobManager::RemoveJobWaiter(absl::string_view id, uint64_t waiter) {
  internal::MutexLock lock(&mu_);
  auto job = FindJobLocked(id);
  if (!job.ok()) return;
  EraseId((*job)->waiters, waiter);
}

void JobManager::Abandon(absl::string_view id, uint64_t waiter) {
  std::vector<Ticket> tickets;
  Pool* pool = nullptr;
  {
    internal::MutexLock lock(&mu_);
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
    internal::MutexLock lock(&mu_);
    auto found = FindJobLocked(id);
    if (!found.ok()) return found.status();
    job = *found;
    pool = pools_.find(job->pool)->second->pool.get();
    (void)CancelLocked(job, "cancelled by request", &tickets);
  }
  // A queued job is withdrawn here; its admission callback finishes it.
  for (Ticket ticket : tickets) pool->Cancel(ticket);
  internal::MutexLock lock(&mu_);
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

void JobManager::EvictLocked(absl::Time now, int64_t new_batches) {
  const absl::Time cutoff = now - options_.retention;
  while (!finished_batches_.empty()) {
    auto it = batches_.find(finished_batches_.front());
    if (it != batches_.end() && it->second->finished_at > cutoff &&
        static_cast<int64_t>(batches_.size()) + new_batches <=
            options_.max_retained_batches) {
      break;
    }
    if (it != batches_.end()) EraseBatchLocked(it);
    finished_batches_.pop_front();
  }
  // Oldest first; returns the batch that holds the oldest job kept, if any.
  const auto evict_jobs = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    while (!finished_jobs_.empty()) {
      auto it = jobs_.find(finished_jobs_.front());
      const bool gone = it == jobs_.end();
      if (!gone &&
          static_cast<int64_t>(finished_jobs_.size()) <=
              options_.max_retained_jobs &&
          retained_output_bytes_ <= options_.max_retained_output_bytes &&
          it->second->finished_at > cutoff) {
        break;
      }
      if (!gone) {
        const JobRecord& job = *it->second;
        // A job stays while its batch is retained, so the batch can report
        // it.
        if (job.batch != nullptr && batches_.contains(job.batch_id)) {
          return job.batch_id;
        }
        if (!job.key.empty()) {
          keys_.erase(absl::StrCat(job.pool, "\n", job.key));
        }
        retained_output_bytes_ -= static_cast<int64_t>(job.output.size());
        jobs_.erase(it);
      }
      finished_jobs_.pop_front();
    }
    return std::string();
  };
  // Over the output budget, a finished batch holding the oldest job is
  // forgotten early (an open batch keeps its jobs: see RoomLocked).
  for (std::string holder = evict_jobs(); !holder.empty();
       holder = evict_jobs()) {
    auto it = batches_.find(holder);
    if (retained_output_bytes_ <= options_.max_retained_output_bytes ||
        it == batches_.end() || !it->second->IsComplete()) {
      break;
    }
    EraseBatchLocked(it);
  }
}

void JobManager::EraseBatchLocked(BatchMap::iterator it) {
  for (const JobPtr& job : it->second->jobs) job->batch = nullptr;
  batches_.erase(it);
}

absl::Status JobManager::RoomLocked(const PoolEntry& pool, int64_t jobs,
                                    int64_t payload_bytes) {
  const auto refuse =
      [&](const std::string& message) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        if (observer_ != nullptr) {
          observer_->JobRefused(pool.name, "retention_full");
        }
        return WithRetryDelay(absl::ResourceExhaustedError(message),
                              options_.retry_after);
      };
  if (live_payload_bytes_ + payload_bytes > options_.max_queued_payload_bytes) {
    return refuse(absl::StrCat("queued payloads full: ", live_payload_bytes_,
                               " bytes waiting (", jobs, " more would add ",
                               payload_bytes, "; --max_queued_payload_bytes)"));
  }
  if (retained_output_bytes_ > options_.max_retained_output_bytes) {
    EvictLocked(absl::Now());  // A batch sealed since may now go.
  }
  if (retained_output_bytes_ > options_.max_retained_output_bytes) {
    return refuse(absl::StrCat(
        "retained outputs full: ", retained_output_bytes_,
        " bytes held by open batches (--max_retained_output_bytes); seal or "
        "cancel them, or retry later"));
  }
  return absl::OkStatus();
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
  internal::MutexLock lock(&job.report->mu);
  out.set_progress(job.report->fraction);
  out.set_progress_message(job.report->message);
  if (job.report->has_process) {
    v1::ProcessResult* process = out.mutable_process();
    process->set_exit_code(job.report->exit_code);
    process->set_signal(job.report->term_signal);
    process->set_stderr_tail(job.report->stderr_tail);
  }
  return out;
}

}  // namespace jobpool
