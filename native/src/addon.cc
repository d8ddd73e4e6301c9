// axis_rsync: streaming librsync signature / delta / patch jobs for Node and Electron.
//
// Node-API only (node-addon-api, NAPI_VERSION from binding.gyp): one binary loads in any
// Node >= 20 and any Electron, no direct V8/libuv/OpenSSL use.
//
// Model: a Job wraps one rs_job_t. JS calls job.feed(chunk | null, eof) and awaits the
// returned promise; each feed runs rs_job_iter() on the libuv thread pool
// (Napi::AsyncWorker) and resolves with { output, needInput, done }:
//   needInput  the chunk is fully consumed; feed the next one (or null + eof at the end)
//   !needInput && !done  the fixed-size output buffer filled up; call feed(null, eof)
//              again to drain (this is how a tiny patch command producing gigabytes of
//              output stays bounded)
//   done       the job finished; output holds its last bytes.
// job.feedFile(path, offset, maxBytes) is feed() with the input read by the worker itself:
// it preads the file from `offset` in kReadPiece pieces (each processed while it is still in
// the CPU cache) until maxBytes, end of file, or a full output buffer, and resolves with
// { output, needInput, done, consumed, eof } (consumed: file bytes handed to the job; eof: the
// file ended). No JS buffers, no copies, one thread-pool hop per maxBytes instead of per
// chunk: signatureFile/deltaFile use it (rdiff reads the same way).
// Only one feed may be in flight per job; memory per job is one output buffer
// (kOutCap; kSigOutCap for signatures) plus librsync's own bounded buffers (plus, for delta, the loaded signature).
// The input chunk is not copied: the job keeps a reference to the JS Buffer until it is
// consumed (as node's zlib does), so callers must not mutate it while a feed is pending.

#include <napi.h>

#include <librsync.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "basis_reader.h"
#include "log_capture.h"

namespace axis {
namespace {

constexpr size_t kOutCap = 1 << 20;  // bytes of output produced per feed, at most
// A signature is ~1/40 of its input or less: a smaller output buffer (drained by feed(null)
// when full) saves most of a megabyte per running signature job, e.g. one per download.
constexpr size_t kSigOutCap = 64 * 1024;
constexpr size_t kReadPiece = 256 * 1024;  // feedFile: bytes per pread (fits in L2 while hashed)

#ifdef AXIS_RSYNC_STATIC
constexpr const char* kLinkage = "static";
#else
constexpr const char* kLinkage = "dynamic";
#endif
#ifdef AXIS_BLAKE2_SHIM
constexpr bool kBlake2Shim = true;
#else
constexpr bool kBlake2Shim = false;
#endif

const char* ResultName(rs_result r) {
  switch (r) {
    case RS_DONE: return "RS_DONE";
    case RS_BLOCKED: return "RS_BLOCKED";
    case RS_RUNNING: return "RS_RUNNING";
    case RS_TEST_SKIPPED: return "RS_TEST_SKIPPED";
    case RS_IO_ERROR: return "RS_IO_ERROR";
    case RS_SYNTAX_ERROR: return "RS_SYNTAX_ERROR";
    case RS_MEM_ERROR: return "RS_MEM_ERROR";
    case RS_INPUT_ENDED: return "RS_INPUT_ENDED";
    case RS_BAD_MAGIC: return "RS_BAD_MAGIC";
    case RS_UNIMPLEMENTED: return "RS_UNIMPLEMENTED";
    case RS_CORRUPT: return "RS_CORRUPT";
    case RS_INTERNAL_ERROR: return "RS_INTERNAL_ERROR";
    case RS_PARAM_ERROR: return "RS_PARAM_ERROR";
  }
  return "RS_UNKNOWN";
}

Napi::Error MakeError(Napi::Env env, const std::string& code, const std::string& message,
                      int rsResult) {
  Napi::Error err = Napi::Error::New(env, message);
  err.Set("code", Napi::String::New(env, code));
  if (rsResult >= 0) err.Set("rsResult", Napi::Number::New(env, rsResult));
  return err;
}

size_t MaxStrongLen(int magic) {
  switch (magic) {
    case RS_BLAKE2_SIG_MAGIC:
    case RS_RK_BLAKE2_SIG_MAGIC:
      return 32;  // RS_BLAKE2_SUM_LENGTH
    case RS_MD4_SIG_MAGIC:
    case RS_RK_MD4_SIG_MAGIC:
      return 16;  // RS_MD4_SUM_LENGTH
    default:
      return 0;
  }
}

// Block lengths librsync's loadsig accepts are positive ints; we cap well below.
constexpr int64_t kMaxBlockLen = int64_t{1} << 30;

enum class Kind { kSignature, kDelta, kPatch };

struct FeedOutcome {
  size_t produced = 0;
  bool needInput = false;
  bool done = false;
};

struct FeedFailure {
  rs_result code = RS_DONE;
  std::string message;
};

class Job : public Napi::ObjectWrap<Job> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Job",
                       {InstanceMethod<&Job::Feed>("feed"), InstanceMethod<&Job::FeedFile>("feedFile"),
                        InstanceMethod<&Job::Close>("close"),
                        InstanceMethod<&Job::Stats>("stats"),
                        InstanceAccessor<&Job::GetBusy>("busy"),
                        InstanceAccessor<&Job::GetKind>("kind")});
  }

  explicit Job(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Job>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsString()) {
      throw Napi::TypeError::New(env, "Job(kind, ...): kind must be 'signature', 'delta' or 'patch'");
    }
    std::string kind = info[0].As<Napi::String>().Utf8Value();
    if (kind == "signature") {
      kind_ = Kind::kSignature;
      // new Job('signature', blockLen, strongLen, magic)
      if (info.Length() < 4 || !info[1].IsNumber() || !info[2].IsNumber() || !info[3].IsNumber()) {
        throw Napi::TypeError::New(env, "Job('signature', blockLen, strongLen, magic)");
      }
      int64_t blockLen = info[1].As<Napi::Number>().Int64Value();
      int64_t strongLen = info[2].As<Napi::Number>().Int64Value();
      int64_t magic = info[3].As<Napi::Number>().Int64Value();
      size_t maxStrong = MaxStrongLen(static_cast<int>(magic));
      if (maxStrong == 0) throw Napi::RangeError::New(env, "unknown signature magic");
      if (blockLen < 1 || blockLen > kMaxBlockLen) {
        throw Napi::RangeError::New(env, "blockLen must be between 1 and 2^30");
      }
      if (strongLen < 1 || static_cast<size_t>(strongLen) > maxStrong) {
        throw Napi::RangeError::New(env, "strongLen must be between 1 and " + std::to_string(maxStrong));
      }
      LogCapture log;
      job_ = rs_sig_begin(static_cast<size_t>(blockLen), static_cast<size_t>(strongLen),
                          static_cast<rs_magic_number>(magic));
    } else if (kind == "delta") {
      kind_ = Kind::kDelta;
      // new Job('delta', signatureBuffer): the signature is parsed on the first feed, on
      // the thread pool (rs_loadsig_* then rs_build_hash_table).
      if (info.Length() < 2 || !info[1].IsBuffer()) {
        throw Napi::TypeError::New(env, "Job('delta', signature: Buffer)");
      }
      auto sig = info[1].As<Napi::Buffer<char>>();
      sigInputRef_ = Napi::Persistent(sig);
      sigData_ = sig.Data();
      sigLen_ = sig.Length();
    } else if (kind == "patch") {
      kind_ = Kind::kPatch;
      // new Job('patch', basisPath): the basis is opened and read (pread) on the pool.
      if (info.Length() < 2 || !info[1].IsString()) {
        throw Napi::TypeError::New(env, "Job('patch', basisPath: string)");
      }
      basis_ = std::make_unique<BasisReader>(info[1].As<Napi::String>().Utf8Value());
      LogCapture log;
      job_ = rs_patch_begin(&Job::CopyCallback, this);
    } else {
      throw Napi::TypeError::New(env, "Job kind must be 'signature', 'delta' or 'patch'");
    }
  }

  ~Job() override { ReleaseNative(); }

  // ---- worker thread -------------------------------------------------------------

  // Runs rs_job_iter until the output buffer is full, the input is consumed, or the job
  // ends. Touches only native state; the JS thread does not touch it while busy_.
  size_t OutCap() const { return kind_ == Kind::kSignature ? kSigOutCap : kOutCap; }

  bool Run(FeedOutcome* outcome, FeedFailure* failure) {
    LogCapture log;
    auto fail = [&](rs_result code, const std::string& detail) {
      failure->code = code;
      std::string msg = detail;
      if (msg.empty()) msg = log.text();
      if (msg.empty()) msg = rs_strerror(code);
      failure->message = std::string("librsync ") + KindName() + " failed (" + ResultName(code) +
                         "): " + msg;
      return false;
    };

    if (kind_ == Kind::kDelta && job_ == nullptr) {
      rs_result r = LoadSignature();
      if (r != RS_DONE) {
        return fail(r, "invalid signature: " + (log.text().empty() ? std::string(rs_strerror(r)) : log.text()));
      }
    }
    if (kind_ == Kind::kPatch && !basis_->Open()) return fail(RS_IO_ERROR, basis_->error());
    if (out_.size() != OutCap()) out_.resize(OutCap());

    rs_buffers_t b;
    std::memset(&b, 0, sizeof b);
    b.next_out = out_.data() + outFill_;
    b.avail_out = out_.size() - outFill_;
    for (;;) {
      b.next_in = const_cast<char*>(inData_ + inPos_);
      b.avail_in = inLen_ - inPos_;
      b.eof_in = eof_ ? 1 : 0;
      const size_t beforeIn = b.avail_in;
      const size_t beforeOut = b.avail_out;
      copyError_.clear();
      rs_result r = rs_job_iter(job_, &b);
      totalIn_ += (inLen_ - inPos_) - b.avail_in;
      inPos_ = inLen_ - b.avail_in;
      if (r == RS_DONE) {
        done_ = true;
        if (inPos_ < inLen_) {
          stats_ = *rs_job_statistics(job_);
          return fail(RS_CORRUPT, std::to_string(inLen_ - inPos_) +
                                      " bytes of input after the end of the delta");
        }
        break;
      }
      if (r != RS_BLOCKED) return fail(r, copyError_);
      if (b.avail_out == 0) break;  // output full: the caller drains with feed(null)
      if (b.avail_in == 0) {
        if (eof_) return fail(RS_INPUT_ENDED, "job stalled at end of input");
        outcome->needInput = true;
        break;
      }
      if (b.avail_in == beforeIn && b.avail_out == beforeOut) {
        return fail(RS_INTERNAL_ERROR, "job made no progress");
      }
    }
    outcome->produced = out_.size() - b.avail_out;
    totalOut_ += outcome->produced - outFill_;
    outcome->done = done_;
    stats_ = *rs_job_statistics(job_);
    return true;
  }

  // feedFile: reads [fileOffset_, fileOffset_ + fileMax_) of input_ piece by piece and runs
  // the job over each piece, appending to the output buffer, until the range or the file
  // ends or the output buffer is full. Input left in readBuf_ when the output fills up is
  // drained by feed(null) like any pending input.
  bool RunFile(FeedOutcome* outcome, FeedFailure* failure) {
    if (!input_->Open()) {
      failure->code = RS_IO_ERROR;
      failure->message = std::string("librsync ") + KindName() + " failed (RS_IO_ERROR): " + input_->error();
      return false;
    }
    if (out_.size() != OutCap()) out_.resize(OutCap());
    if (readBuf_.size() != kReadPiece) readBuf_.resize(kReadPiece);
    fileConsumed_ = 0;
    fileEof_ = false;
    outFill_ = 0;
    outcome->needInput = true;
    while (fileConsumed_ < fileMax_ && outFill_ < out_.size()) {
      const size_t want = static_cast<size_t>(std::min<uint64_t>(kReadPiece, fileMax_ - fileConsumed_));
      const int64_t got = input_->ReadAt(static_cast<int64_t>(fileOffset_ + fileConsumed_), readBuf_.data(), want);
      if (got < 0) {
        outFill_ = 0;
        failure->code = RS_IO_ERROR;
        failure->message = std::string("librsync ") + KindName() + " failed (RS_IO_ERROR): " + input_->error();
        return false;
      }
      if (got == 0) {
        fileEof_ = true;
        break;
      }
      fileConsumed_ += static_cast<uint64_t>(got);
      inData_ = readBuf_.data();
      inLen_ = static_cast<size_t>(got);
      inPos_ = 0;
      FeedOutcome step;
      if (!Run(&step, failure)) {
        outFill_ = 0;
        return false;
      }
      outFill_ = step.produced;
      outcome->produced = step.produced;
      outcome->done = step.done;
      outcome->needInput = step.needInput;
      if (static_cast<size_t>(got) < want) fileEof_ = true;  // ReadAt reads until len or EOF
      if (step.done || !step.needInput || fileEof_) break;
    }
    outFill_ = 0;
    return true;
  }

  // ---- JS thread, after the worker ----------------------------------------------

  Napi::Value FinishOk(Napi::Env env, const FeedOutcome& outcome, bool fromFile = false) {
    busy_ = false;
    Napi::Buffer<char> output = outcome.produced > 0
                                    ? Napi::Buffer<char>::Copy(env, out_.data(), outcome.produced)
                                    : Napi::Buffer<char>::New(env, 0);
    if (inPos_ >= inLen_) DropInput();
    if (sigData_ != nullptr && job_ != nullptr) {  // signature loaded: let JS free it
      sigInputRef_.Reset();
      sigData_ = nullptr;
      sigLen_ = 0;
    }
    if (outcome.done || closeRequested_) ReleaseNative();
    Napi::Object result = Napi::Object::New(env);
    result.Set("output", output);
    result.Set("needInput", Napi::Boolean::New(env, outcome.needInput));
    result.Set("done", Napi::Boolean::New(env, outcome.done));
    if (fromFile) {
      result.Set("consumed", Napi::Number::New(env, static_cast<double>(fileConsumed_)));
      result.Set("eof", Napi::Boolean::New(env, fileEof_));
    }
    return result;
  }

  Napi::Value FinishError(Napi::Env env, const FeedFailure& failure) {
    busy_ = false;
    failed_ = true;
    failure_ = failure.message;
    failureCode_ = failure.code;
    ReleaseNative();
    return MakeError(env, ResultName(failure.code), failure.message, failure.code).Value();
  }

 private:
  const char* KindName() const {
    switch (kind_) {
      case Kind::kSignature: return "signature";
      case Kind::kDelta: return "delta";
      case Kind::kPatch: return "patch";
    }
    return "job";
  }

  // Worker thread. Parses the whole signature buffer and builds the delta job.
  rs_result LoadSignature() {
    rs_job_t* loader = rs_loadsig_begin(&sig_);
    rs_buffers_t b;
    std::memset(&b, 0, sizeof b);
    b.next_in = const_cast<char*>(sigData_);
    b.avail_in = sigLen_;
    b.eof_in = 1;
    char sink = 0;
    b.next_out = &sink;  // loadsig writes nothing
    b.avail_out = 0;
    rs_result r;
    for (;;) {
      const size_t before = b.avail_in;
      r = rs_job_iter(loader, &b);
      if (r != RS_BLOCKED) break;
      if (b.avail_in == before) {
        r = RS_INPUT_ENDED;
        break;
      }
    }
    rs_job_free(loader);
    if (r != RS_DONE) return r;
    r = rs_build_hash_table(sig_);
    if (r != RS_DONE) return r;
    job_ = rs_delta_begin(sig_);
    return RS_DONE;
  }

  // Worker thread (inside rs_job_iter). Reads the basis directly into librsync's
  // output buffer (*buf points at it).
  static rs_result CopyCallback(void* opaque, rs_long_t pos, size_t* len, void** buf) {
    Job* self = static_cast<Job*>(opaque);
    if (pos < 0) {
      self->copyError_ = "negative basis offset in delta";
      return RS_CORRUPT;
    }
    int64_t got = self->basis_->ReadAt(static_cast<int64_t>(pos), *buf, *len);
    if (got < 0) {
      self->copyError_ = self->basis_->error();
      return RS_IO_ERROR;
    }
    if (got == 0) {
      self->copyError_ = "basis file '" + self->basis_->path() +
                         "' is shorter than the delta expects (copy from offset " +
                         std::to_string(static_cast<long long>(pos)) + ")";
      return RS_INPUT_ENDED;
    }
    *len = static_cast<size_t>(got);
    return RS_DONE;
  }

  void DropInput() {
    inputRef_.Reset();
    inData_ = nullptr;
    inLen_ = 0;
    inPos_ = 0;
  }

  // JS thread, never while busy_.
  void ReleaseNative() {
    if (job_ != nullptr) {
      rs_job_free(job_);
      job_ = nullptr;
    }
    if (sig_ != nullptr) {  // delta: we own the loaded signature; free after the job
      rs_free_sumset(sig_);
      sig_ = nullptr;
    }
    basis_.reset();
    input_.reset();
    std::vector<char>().swap(readBuf_);
    std::vector<char>().swap(out_);
    DropInput();
    sigInputRef_.Reset();
    sigData_ = nullptr;
    sigLen_ = 0;
    released_ = true;
  }

  Napi::Value Feed(const Napi::CallbackInfo& info);
  Napi::Value FeedFile(const Napi::CallbackInfo& info);
  // Throws when no feed may start now (busy, failed, closed).
  void CheckCanFeed(Napi::Env env);

  void Close(const Napi::CallbackInfo&) {
    closed_ = true;
    if (busy_) {
      closeRequested_ = true;  // freed when the running feed completes
    } else {
      ReleaseNative();
    }
  }

  Napi::Value Stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (busy_) throw MakeError(env, "ERR_RSYNC_BUSY", "stats() while a feed is running", -1);
    Napi::Object o = Napi::Object::New(env);
    o.Set("op", Napi::String::New(env, KindName()));
    o.Set("litCmds", Napi::Number::New(env, stats_.lit_cmds));
    o.Set("litBytes", Napi::Number::New(env, static_cast<double>(stats_.lit_bytes)));
    o.Set("litCmdBytes", Napi::Number::New(env, static_cast<double>(stats_.lit_cmdbytes)));
    o.Set("copyCmds", Napi::Number::New(env, static_cast<double>(stats_.copy_cmds)));
    o.Set("copyBytes", Napi::Number::New(env, static_cast<double>(stats_.copy_bytes)));
    o.Set("copyCmdBytes", Napi::Number::New(env, static_cast<double>(stats_.copy_cmdbytes)));
    o.Set("sigBlocks", Napi::Number::New(env, static_cast<double>(stats_.sig_blocks)));
    o.Set("falseMatches", Napi::Number::New(env, stats_.false_matches));
    o.Set("blockLen", Napi::Number::New(env, static_cast<double>(stats_.block_len)));
    // rs_job_iter() does not maintain in_bytes/out_bytes (only librsync's FILE helpers
    // do): count what went through this job ourselves.
    o.Set("inBytes", Napi::Number::New(env, static_cast<double>(totalIn_)));
    o.Set("outBytes", Napi::Number::New(env, static_cast<double>(totalOut_)));
    return o;
  }

  Napi::Value GetBusy(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), busy_); }
  Napi::Value GetKind(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), KindName()); }

  friend class FeedWorker;

  Kind kind_ = Kind::kSignature;
  rs_job_t* job_ = nullptr;
  rs_signature_t* sig_ = nullptr;

  Napi::Reference<Napi::Buffer<char>> inputRef_;
  const char* inData_ = nullptr;
  size_t inLen_ = 0;
  size_t inPos_ = 0;
  bool eof_ = false;

  Napi::Reference<Napi::Buffer<char>> sigInputRef_;
  const char* sigData_ = nullptr;
  size_t sigLen_ = 0;

  std::unique_ptr<BasisReader> basis_;
  // feedFile: the input file (positional reads on the pool), the piece buffer, the range.
  std::unique_ptr<BasisReader> input_;
  std::vector<char> readBuf_;
  uint64_t fileOffset_ = 0;
  uint64_t fileMax_ = 0;
  uint64_t fileConsumed_ = 0;
  bool fileEof_ = false;
  size_t outFill_ = 0;  // output already in out_ (RunFile's later pieces append)
  std::string copyError_;
  std::vector<char> out_;
  rs_stats_t stats_ = {};
  uint64_t totalIn_ = 0;
  uint64_t totalOut_ = 0;

  bool busy_ = false;
  bool done_ = false;
  bool closed_ = false;
  bool closeRequested_ = false;
  bool released_ = false;
  bool failed_ = false;
  rs_result failureCode_ = RS_DONE;
  std::string failure_;
};

class FeedWorker : public Napi::AsyncWorker {
 public:
  FeedWorker(Napi::Env env, Job* job, Napi::Object self, bool fromFile = false)
      : Napi::AsyncWorker(env, "axis_rsync.feed"),
        job_(job),
        fromFile_(fromFile),
        deferred_(Napi::Promise::Deferred::New(env)) {
    self_ = Napi::Persistent(self);  // keeps the Job (and its input buffer) alive
  }

  Napi::Promise Promise() const { return deferred_.Promise(); }

  void Execute() override {
    const bool ok = fromFile_ ? job_->RunFile(&outcome_, &failure_) : job_->Run(&outcome_, &failure_);
    if (!ok) SetError(failure_.message);
  }

  void OnOK() override { deferred_.Resolve(job_->FinishOk(Env(), outcome_, fromFile_)); }

  void OnError(const Napi::Error&) override { deferred_.Reject(job_->FinishError(Env(), failure_)); }

 private:
  Job* job_;
  bool fromFile_;
  Napi::ObjectReference self_;
  Napi::Promise::Deferred deferred_;
  FeedOutcome outcome_;
  FeedFailure failure_;
};

void Job::CheckCanFeed(Napi::Env env) {
  if (busy_) {
    throw MakeError(env, "ERR_RSYNC_BUSY", "feed() while the previous feed is still running", -1);
  }
  if (failed_) {
    throw MakeError(env, ResultName(failureCode_), "job already failed: " + failure_, failureCode_);
  }
  if (closed_ || (released_ && !done_)) {
    throw MakeError(env, "ERR_RSYNC_CLOSED", "feed() after close()", -1);
  }
}

// feedFile(path, offset, maxBytes): see the top of this file.
Napi::Value Job::FeedFile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckCanFeed(env);
  if (info.Length() < 3 || !info[0].IsString() || !info[1].IsNumber() || !info[2].IsNumber()) {
    throw Napi::TypeError::New(env, "feedFile(path: string, offset: number, maxBytes: number)");
  }
  const double offset = info[1].As<Napi::Number>().DoubleValue();
  const double maxBytes = info[2].As<Napi::Number>().DoubleValue();
  if (!(offset >= 0 && offset <= 9007199254740991.0) || !(maxBytes >= 1 && maxBytes <= 9007199254740991.0)) {
    throw Napi::RangeError::New(env, "feedFile: offset must be >= 0 and maxBytes >= 1");
  }
  if (done_ || eof_) {
    throw MakeError(env, "ERR_RSYNC_EOF", "feedFile() after the end of the input", -1);
  }
  if (inPos_ < inLen_) {
    throw MakeError(env, "ERR_RSYNC_PENDING_INPUT",
                    "feedFile() before the previous input was consumed (drain with feed(null) until needInput)",
                    -1);
  }
  std::string file = info[0].As<Napi::String>().Utf8Value();
  if (!input_ || input_->path() != file) input_ = std::make_unique<BasisReader>(file);
  DropInput();
  fileOffset_ = static_cast<uint64_t>(offset);
  fileMax_ = static_cast<uint64_t>(maxBytes);
  busy_ = true;
  auto* worker = new FeedWorker(env, this, Value(), true);
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

Napi::Value Job::Feed(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckCanFeed(env);
  bool hasInput = info.Length() > 0 && info[0].IsBuffer() && info[0].As<Napi::Buffer<char>>().Length() > 0;
  if (info.Length() > 0 && !info[0].IsBuffer() && !info[0].IsNull() && !info[0].IsUndefined()) {
    throw Napi::TypeError::New(env, "feed(input: Buffer | null, eof: boolean)");
  }
  bool eof = info.Length() > 1 && info[1].ToBoolean().Value();
  if (done_) {
    if (hasInput) {
      throw MakeError(env, "RS_CORRUPT",
                      std::string("librsync ") + KindName() + " failed (RS_CORRUPT): " +
                          std::to_string(info[0].As<Napi::Buffer<char>>().Length()) +
                          " bytes of input after the end of the delta",
                      RS_CORRUPT);
    }
    Napi::Object result = Napi::Object::New(env);
    result.Set("output", Napi::Buffer<char>::New(env, 0));
    result.Set("needInput", Napi::Boolean::New(env, false));
    result.Set("done", Napi::Boolean::New(env, true));
    auto d = Napi::Promise::Deferred::New(env);
    d.Resolve(result);
    return d.Promise();
  }
  if (hasInput) {
    if (inPos_ < inLen_) {
      throw MakeError(env, "ERR_RSYNC_PENDING_INPUT",
                      "feed() with new input before the previous input was consumed "
                      "(drain with feed(null) until needInput)",
                      -1);
    }
    auto buf = info[0].As<Napi::Buffer<char>>();
    inputRef_ = Napi::Persistent(buf);
    inData_ = buf.Data();
    inLen_ = buf.Length();
    inPos_ = 0;
  }
  if (eof) eof_ = true;
  busy_ = true;
  auto* worker = new FeedWorker(env, this, Value());
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

// sigArgs(fileSize, magic, blockLen, strongLen) -> { magic, blockLen, strongLen }
// Thin wrapper over rs_sig_args(): fileSize < 0 means unknown; magic 0 = default;
// blockLen 0 = recommended for fileSize; strongLen 0 = maximum, -1 = minimum safe.
Napi::Value SigArgs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 4 || !info[0].IsNumber() || !info[1].IsNumber() || !info[2].IsNumber() ||
      !info[3].IsNumber()) {
    throw Napi::TypeError::New(env, "sigArgs(fileSize, magic, blockLen, strongLen)");
  }
  int64_t fileSize = info[0].As<Napi::Number>().Int64Value();
  int64_t magic = info[1].As<Napi::Number>().Int64Value();
  int64_t blockLen = info[2].As<Napi::Number>().Int64Value();
  int64_t strongLen = info[3].As<Napi::Number>().Int64Value();
  if (magic != 0 && MaxStrongLen(static_cast<int>(magic)) == 0) {
    throw Napi::RangeError::New(env, "unknown signature magic");
  }
  if (blockLen < 0 || blockLen > kMaxBlockLen) throw Napi::RangeError::New(env, "blockLen out of range");
  if (strongLen < -1 || strongLen > 32) throw Napi::RangeError::New(env, "strongLen out of range");
  if (magic != 0 && strongLen > static_cast<int64_t>(MaxStrongLen(static_cast<int>(magic)))) {
    throw Napi::RangeError::New(env, "strongLen too long for this hash");
  }
  rs_magic_number m = static_cast<rs_magic_number>(magic);
  size_t bl = static_cast<size_t>(blockLen);
  size_t sl = strongLen < 0 ? static_cast<size_t>(-1) : static_cast<size_t>(strongLen);
  LogCapture log;
  rs_result r = rs_sig_args(static_cast<rs_long_t>(fileSize < 0 ? -1 : fileSize), &m, &bl, &sl);
  if (r != RS_DONE) {
    throw MakeError(env, ResultName(r), "rs_sig_args failed: " + (log.text().empty() ? std::string(rs_strerror(r)) : log.text()), r);
  }
  Napi::Object o = Napi::Object::New(env);
  o.Set("magic", Napi::Number::New(env, static_cast<double>(m)));
  o.Set("blockLen", Napi::Number::New(env, static_cast<double>(bl)));
  o.Set("strongLen", Napi::Number::New(env, static_cast<double>(sl)));
  return o;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  InstallLogSink();
  exports.Set("Job", Job::Define(env));
  exports.Set("sigArgs", Napi::Function::New<SigArgs>(env, "sigArgs"));
  exports.Set("librsyncVersion", Napi::String::New(env, rs_librsync_version));
  exports.Set("linkage", Napi::String::New(env, kLinkage));
  exports.Set("blake2Shim", Napi::Boolean::New(env, kBlake2Shim));
  exports.Set("napiVersion", Napi::Number::New(env, NAPI_VERSION));
  exports.Set("outputChunkSize", Napi::Number::New(env, static_cast<double>(kOutCap)));
  Napi::Object magic = Napi::Object::New(env);
  magic.Set("MD4", Napi::Number::New(env, RS_MD4_SIG_MAGIC));
  magic.Set("BLAKE2", Napi::Number::New(env, RS_BLAKE2_SIG_MAGIC));
  magic.Set("RK_MD4", Napi::Number::New(env, RS_RK_MD4_SIG_MAGIC));
  magic.Set("RK_BLAKE2", Napi::Number::New(env, RS_RK_BLAKE2_SIG_MAGIC));
  magic.Set("DELTA", Napi::Number::New(env, RS_DELTA_MAGIC));
  exports.Set("magic", magic);
  return exports;
}

}  // namespace
}  // namespace axis

static Napi::Object InitAxisRsync(Napi::Env env, Napi::Object exports) {
  return axis::Init(env, exports);
}

NODE_API_MODULE(axis_rsync, InitAxisRsync)
