#pragma once
// Writes the running config back to its file after a change through the control API, so a
// restart keeps it: atomically (a temporary file in the same folder, fsync, rename over the
// file, fsync of the folder), so a crash at any moment leaves either the old file or the new one.

#include <string>
#include <string_view>

namespace dlb::agent::control {

// Replaces the file at `path` (a symbolic link's target, when it is one) with `content`, keeping
// its mode. False with `why` saying what failed and what to do; the file is then unchanged.
bool writeFileAtomically(const std::string& path, std::string_view content, std::string* why);

} // namespace dlb::agent::control
