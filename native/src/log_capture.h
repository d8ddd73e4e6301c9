// Collects librsync's error/warning messages for the job running on the current thread,
// so a failed job reports "bad magic number 0x... for signature" instead of just the
// rs_result name, and so librsync never prints to the host process's stderr.
#pragma once

#include <string>

namespace axis {

// While an instance is alive on a thread, librsync messages logged on that thread are
// appended to it (bounded). Not copyable; nests by restoring the previous sink.
class LogCapture {
 public:
  LogCapture();
  ~LogCapture();
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;
  const std::string& text() const { return text_; }
  void Append(const char* msg);

 private:
  std::string text_;
  LogCapture* previous_;
};

// Route librsync's logging into LogCapture. With the static-link shim (our own rs_log0,
// see log_capture.cc) there is nothing to install; with a shared librsync this calls
// rs_trace_to()/rs_trace_set_level(). Idempotent.
void InstallLogSink();

}  // namespace axis
