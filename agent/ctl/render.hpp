#pragma once
// The control API's answers as text for people. Each function takes the JSON the agent
// answered (docs/control-api.md) and returns aligned lines; a field that is missing or null
// shows as "-", so an older or newer agent still prints.

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

namespace dlb::ctl {

std::string renderStatus(const nlohmann::json& status);
std::string renderPools(const nlohmann::json& pools);
std::string renderReplicas(const nlohmann::json& pool);
// add/drain/remove/weight answer: {"generation", "replica": {...}}; `what` is "added" etc.
std::string renderReplicaChange(const nlohmann::json& answer, std::string_view pool, std::string_view what);
std::string renderAlgorithm(const nlohmann::json& answer);
std::string renderHealthCheck(const nlohmann::json& answer);
std::string renderStats(const nlohmann::json& stats);
// The algorithm parameter table of common/ (no agent needed); empty name: every algorithm.
std::string renderParams(std::string_view name);
nlohmann::json paramsJson(std::string_view name);

// A JSON value as a table cell: strings bare, numbers as the shortest text that reads back,
// null or missing as "-".
std::string cell(const nlohmann::json& value);

} // namespace dlb::ctl
