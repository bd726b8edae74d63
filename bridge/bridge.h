// SPDX-License-Identifier: Apache-2.0
// The bridge: the only C++ that touches Python. It owns the interpreter for the plugin (attach to
// the host's when one runs, else start one from the configured virtual environment), takes the
// GIL per call, hands image buffers to the engine as zero-copy numpy views, and turns Python
// exceptions into `bridge::Error` carrying the engine's one-line message (tracebacks go to the
// log). Callers never include Python.h: the interface is plain C++.
//
// Threading: every function may be called from any host thread. None expects the GIL to be held;
// each takes it for the Python part of its work and releases it before returning. Host callbacks
// given to `Node::analyze` run with the GIL released, so a host that renders upstream nodes on
// other threads while we wait cannot deadlock on it.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

namespace doppel::bridge {

// What kind of failure an error is, decided by the engine's Python error class
// (engine.host.node.ERROR_KINDS): the plugin chooses the OFX status and the words from it.
enum class ErrorKind {
  kInput,      // bad user input (a file, frame or value); InputError and DoppelError
  kMedia,      // an image the host gave or a file that cannot be read; MediaError
  kSettings,   // a parameter value out of range or of the wrong kind; SettingsError
  kOutput,     // an output that cannot be written as asked; OutputError
  kDiskFull,   // no space left; DiskFullError
  kModel,      // a model file missing or unusable; ModelError
  kCancelled,  // the user cancelled; engine.errors.Cancelled
  kMemory,     // an allocation failed; MemoryError, std::bad_alloc
  kInternal,   // anything else: a bug (the traceback is in the host's log)
};

// A failure the host should show: `what()` is one line naming what and how to fix it.
struct Error : std::runtime_error {
  explicit Error(const std::string& message, ErrorKind k = ErrorKind::kInternal)
      : std::runtime_error(message), kind(k) {}
  ErrorKind kind;
};
// The user cancelled (Analyze's progress bar): what was done is kept and the next run resumes.
struct Cancelled : Error {
  explicit Cancelled(const std::string& message) : Error(message, ErrorKind::kCancelled) {}
};

// Where the interpreter came from.
enum class Mode { kNone, kStarted, kAttached };

struct Status {
  Mode mode = Mode::kNone;
  std::string venv;     // the venv in use ("" when attached without one)
  std::string version;  // sys.version of the running interpreter
};

// Start or attach Python and import the engine; idempotent and thread-safe. Never called at
// plugin load or describe. `module_path` is a file of the plugin (for finding its bundle's
// Resources/doppel.cfg). Throws Error with the fix (which venv, which Python version) on failure.
Status ensure_python(const std::string& module_path);
// True if this process's Python is initialised (no side effects; for tests and logs).
bool python_initialized();

// A strided 2-D array of pixels: `data` is the top-left pixel of the picture as seen top-down
// (row 0 = the top row); `row_bytes` may be negative (bottom-up host buffers).
struct ImageView {
  void* data = nullptr;
  int width = 0, height = 0, channels = 0;
  std::ptrdiff_t row_bytes = 0;
  std::ptrdiff_t pixel_bytes = 0;  // stride between pixels (channels * 4 for packed float)
  std::ptrdiff_t channel_bytes = 4;
  bool writable = false;
};

using Value = std::variant<std::string, double, int, bool>;
using Values = std::vector<std::pair<std::string, Value>>;

struct Box {  // display-window pixels, y down, exclusive ends
  int x0, y0, x1, y1;
};
// The display window (x, y, width, height) in pixels at the render `scale` (the full-resolution
// window scaled, lround per value), its pixel aspect, and where the plugin took it from: the
// Source clip's format, or the project extent (`from_project`: then a track of another plate
// size means the project's format is wrong, not the track).
struct Display {
  int x = 0, y = 0, width = 0, height = 0;
  double pixel_aspect = 1.0;
  double scale = 1.0;
  bool from_project = false;
};

struct RenderInfo {
  bool swapped = false;
  std::string reason;
  long loads = 0;         // models built by this node so far (a look change must not add one)
  double process_ms = 0;  // time inside FaceSwapper.process (the node's overhead is the rest)
};

// A frame pulled from the host for Analyze: a top-down copy and its origin in the display window.
struct HostFrame {
  std::vector<float> pixels;
  int width = 0, height = 0, channels = 0;
  int x = 0, y = 0;  // top-left pixel in display-window coordinates (y down)
};

struct AnalyzeResult {
  std::string digest;
  long frames = 0, tracked = 0;
  std::vector<std::string> errors;
  std::string fit;          // the model–plate fit line (issue 21); empty without a model
  std::string mouth_shape;  // the model–plate mouth shape line; empty without a model
  std::string health;       // the suspect frames in words ("1004-1006 no detection"); empty: none
};

// One OFX instance's engine state (engine.host.node.Node).
class Node {
 public:
  Node();  // needs ensure_python() first
  ~Node();
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  bool is_identity(double frame, const Values& values);
  std::optional<Box> roi(double frame, const Values& values, const Display& display);
  RenderInfo render(double frame, const Values& values, const ImageView& src, int src_x, int src_y,
                    const ImageView& out, int out_x, int out_y, const Display& display,
                    const ImageView* holdout);
  AnalyzeResult analyze(const Values& values, const std::vector<int>& frames,
                        const std::function<HostFrame(int)>& fetch, const Display& display,
                        const std::function<bool(int, int)>& progress);  // false: cancel
  std::string send_to_farm(const Values& values, int first, int last);
  // Opens the track editor on the node's plate and track (a detached process); the command.
  std::string edit_track(const Values& values);
  long loads();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace doppel::bridge
