#include "log_capture.h"

#include <cstdarg>
#include <cstdio>
#include <cstring>

#include <librsync.h>

namespace axis {

namespace {
thread_local LogCapture* t_sink = nullptr;
constexpr size_t kMaxCaptured = 2048;
// rs_loglevel: EMERG=0 .. ERR=3, WARNING=4 .. DEBUG=7; flags above the low three bits.
constexpr int kPriorityMask = 7;

void Deliver(int level, const char* msg) {
  if ((level & kPriorityMask) > RS_LOG_WARNING) return;
  if (t_sink != nullptr) t_sink->Append(msg);
  // No sink (should not happen: every librsync call we make runs under a LogCapture):
  // drop the message rather than write to the host application's stderr.
}
}  // namespace

LogCapture::LogCapture() : previous_(t_sink) { t_sink = this; }
LogCapture::~LogCapture() { t_sink = previous_; }

void LogCapture::Append(const char* msg) {
  if (msg == nullptr) return;
  size_t len = std::strlen(msg);
  while (len > 0 && (msg[len - 1] == '\n' || msg[len - 1] == '\r')) len--;
  if (len == 0 || text_.size() >= kMaxCaptured) return;
  if (!text_.empty()) text_.append("; ");
  text_.append(msg, len < kMaxCaptured - text_.size() ? len : kMaxCaptured - text_.size());
}

#ifdef AXIS_RSYNC_LOG_SHIM
void InstallLogSink() {}
#else
namespace {
void TraceCallback(rs_loglevel level, const char* msg) { Deliver(static_cast<int>(level), msg); }
}  // namespace
void InstallLogSink() {
  rs_trace_set_level(RS_LOG_WARNING);
  rs_trace_to(&TraceCallback);
}
#endif

}  // namespace axis

#ifdef AXIS_RSYNC_LOG_SHIM
// Static builds define librsync's internal logging entry point themselves, so the
// archive's trace.o is never linked. Two reasons: (1) Debian's librsync.a is not built
// with -fPIC and trace.o is its only member that cannot go into a shared object (it
// references libc's `stderr` PC-relative); (2) librsync's default logger prints to the
// process's stderr, which an Electron app must not inherit. Only rs_log0 (and the
// rs_trace_level variable used by trace-enabled builds) are referenced by the other
// archive members; we provide both.
extern "C" {
int rs_trace_level = RS_LOG_WARNING;

void rs_log0(int level, char const* fn, char const* fmt, ...) {
  if ((level & axis::kPriorityMask) > RS_LOG_WARNING) return;
  char msg[512];
  int off = 0;
  if (fn != nullptr && (level & 8 /* RS_LOG_NONAME */) == 0) {
    off = std::snprintf(msg, sizeof msg, "%s: ", fn);
    if (off < 0 || off >= static_cast<int>(sizeof msg)) off = 0;
  }
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(msg + off, sizeof msg - static_cast<size_t>(off), fmt, ap);
  va_end(ap);
  axis::Deliver(level, msg);
}
}
#endif
