// Positional reads from the basis file of a patch job. Used only on libuv worker
// threads (librsync's copy callback runs inside rs_job_iter), never on the JS thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace axis {

class BasisReader {
 public:
  explicit BasisReader(std::string path) : path_(std::move(path)) {}
  ~BasisReader() { Close(); }
  BasisReader(const BasisReader&) = delete;
  BasisReader& operator=(const BasisReader&) = delete;

  // Opens the file if not open yet. On failure returns false and sets error().
  bool Open();
  // Reads up to `len` bytes at `offset` into `dst`, retrying short reads until `len`
  // bytes or end of file. Returns the number of bytes read (0 at end of file) or -1 on
  // error (see error()).
  int64_t ReadAt(int64_t offset, void* dst, size_t len);
  void Close();

  const std::string& path() const { return path_; }
  const std::string& error() const { return error_; }

 private:
  std::string path_;
  std::string error_;
#ifdef _WIN32
  void* handle_ = nullptr;  // HANDLE; nullptr when closed
#else
  int fd_ = -1;
#endif
};

}  // namespace axis
