/* config_schema.c - the libcyaml schema of a campaign file.
 *
 * The single description of the file format (README "Campaign file
 * reference"): every key, its type, whether it is optional, the words an enum
 * field accepts (tables in config_names.c) and the bounds on strings and lists.
 * Pass 2 (config_walk.c) walks a document along it for located errors; pass 3
 * (config_load.c) hands it to libcyaml to load and free the structs.
 */
#include "config_internal.h"

#define OPT CYAML_FLAG_OPTIONAL
#define OPT_PTR (CYAML_FLAG_OPTIONAL | CYAML_FLAG_POINTER)
#define ENUM_FIELD(key, flags, type, member, table)                                     \
    CYAML_FIELD_ENUM(key, flags, type, member, table, N_OF(table))

static const cyaml_schema_value_t string_entry = {
    CYAML_VALUE_STRING(CYAML_FLAG_POINTER, char, 1, NNFI_CONFIG_MAX_PATTERN)};
static const cyaml_schema_value_t op_name_entry = {CYAML_VALUE_STRING(CYAML_FLAG_POINTER, char, 1, 128)};
static const cyaml_schema_value_t uint32_entry = {CYAML_VALUE_UINT(CYAML_FLAG_DEFAULT, uint32_t)};
static const cyaml_schema_value_t uint64_entry = {CYAML_VALUE_UINT(CYAML_FLAG_DEFAULT, uint64_t)};
static const cyaml_schema_value_t double_entry = {CYAML_VALUE_FLOAT(CYAML_FLAG_DEFAULT, double)};

static const cyaml_schema_field_t null_model_fields[] = {
    CYAML_FIELD_UINT("inputs", OPT, nnfi_null_model_cfg, inputs),
    CYAML_FIELD_UINT("hidden", OPT, nnfi_null_model_cfg, hidden),
    CYAML_FIELD_UINT("layers", OPT, nnfi_null_model_cfg, layers),
    CYAML_FIELD_UINT("classes", OPT, nnfi_null_model_cfg, classes),
    CYAML_FIELD_END};

static const cyaml_schema_field_t eval_fields[] = {
    CYAML_FIELD_STRING_PTR("path", OPT_PTR, nnfi_eval_cfg, path, 1, NNFI_CONFIG_MAX_PATH),
    CYAML_FIELD_STRING_PTR("images", OPT_PTR, nnfi_eval_cfg, images, 1, 256),
    CYAML_FIELD_STRING_PTR("labels", OPT_PTR, nnfi_eval_cfg, labels, 1, 256),
    CYAML_FIELD_UINT("samples", OPT, nnfi_eval_cfg, samples),
    CYAML_FIELD_UINT("batch", OPT, nnfi_eval_cfg, batch),
    CYAML_FIELD_UINT("cache_mb", OPT, nnfi_eval_cfg, cache_mb),
    CYAML_FIELD_BOOL("drop_nonfinite", OPT, nnfi_eval_cfg, drop_nonfinite),
    CYAML_FIELD_END};

static const cyaml_schema_field_t model_fields[] = {
    CYAML_FIELD_STRING_PTR("name", CYAML_FLAG_POINTER, nnfi_model_cfg, name, 1, 64),
    ENUM_FIELD("host", CYAML_FLAG_DEFAULT, nnfi_model_cfg, host, nnfi_cfg_host_strings),
    CYAML_FIELD_STRING_PTR("path", OPT_PTR, nnfi_model_cfg, path, 1, NNFI_CONFIG_MAX_PATH),
    ENUM_FIELD("device", OPT, nnfi_model_cfg, device, nnfi_cfg_device_strings),
    CYAML_FIELD_UINT("threads", OPT, nnfi_model_cfg, threads),
    CYAML_FIELD_STRING_PTR("qengine", OPT_PTR, nnfi_model_cfg, qengine, 1, 32),
    CYAML_FIELD_MAPPING_PTR("shape", OPT_PTR, nnfi_model_cfg, null_model, null_model_fields),
    CYAML_FIELD_SEQUENCE("ops", OPT_PTR, nnfi_model_cfg, ops, &op_name_entry, 1, 256),
    CYAML_FIELD_BOOL("fused", OPT, nnfi_model_cfg, fused),
    CYAML_FIELD_MAPPING_PTR("eval", OPT_PTR, nnfi_model_cfg, eval, eval_fields),
    CYAML_FIELD_END};
static const cyaml_schema_value_t model_entry = {
    CYAML_VALUE_MAPPING(CYAML_FLAG_DEFAULT, nnfi_model_cfg, model_fields)};


static const cyaml_schema_field_t bits_fields[] = {
    ENUM_FIELD("preset", OPT, nnfi_bits_cfg, preset, nnfi_cfg_preset_strings),
    CYAML_FIELD_SEQUENCE("list", OPT_PTR, nnfi_bits_cfg, list, &uint32_entry, 1, 64),
    CYAML_FIELD_SEQUENCE("range", OPT_PTR, nnfi_bits_cfg, range, &uint32_entry, 2, 2),
    CYAML_FIELD_UINT("count", OPT, nnfi_bits_cfg, count),
    CYAML_FIELD_BOOL("all", OPT, nnfi_bits_cfg, all),
    CYAML_FIELD_END};

static const cyaml_schema_field_t window_fields[] = {
    CYAML_FIELD_UINT("from", CYAML_FLAG_DEFAULT, nnfi_window_cfg, from),
    CYAML_FIELD_UINT("to", CYAML_FLAG_DEFAULT, nnfi_window_cfg, to),
    CYAML_FIELD_END};

static const cyaml_schema_field_t group_fields[] = {
    CYAML_FIELD_STRING_PTR("name", OPT_PTR, nnfi_group_cfg, name, 1, 64),
    ENUM_FIELD("target", CYAML_FLAG_DEFAULT, nnfi_group_cfg, target, nnfi_cfg_target_strings),
    CYAML_FIELD_SEQUENCE("sites", OPT_PTR, nnfi_group_cfg, sites, &string_entry, 1, 1024),
    CYAML_FIELD_STRING_PTR("regex", OPT_PTR, nnfi_group_cfg, regex, 1, NNFI_CONFIG_MAX_PATTERN),
    CYAML_FIELD_UINT_PTR("element", OPT_PTR, nnfi_group_cfg, element),
    ENUM_FIELD("values", OPT, nnfi_group_cfg, values, nnfi_cfg_values_strings),
    CYAML_FIELD_MAPPING_PTR("bits", OPT_PTR, nnfi_group_cfg, bits, bits_fields),
    ENUM_FIELD("op", OPT, nnfi_group_cfg, op, nnfi_cfg_op_strings),
    CYAML_FIELD_FLOAT_PTR("value", OPT_PTR, nnfi_group_cfg, value),
    ENUM_FIELD("persistence", OPT, nnfi_group_cfg, persistence, nnfi_cfg_persistence_strings),
    ENUM_FIELD("scope", OPT, nnfi_group_cfg, scope, nnfi_cfg_scope_strings),
    CYAML_FIELD_MAPPING_PTR("time_steps", OPT_PTR, nnfi_group_cfg, time_steps, window_fields),
    CYAML_FIELD_UINT("duration", OPT, nnfi_group_cfg, duration),
    CYAML_FIELD_BOOL("distinct", OPT, nnfi_group_cfg, distinct),
    CYAML_FIELD_UINT_PTR("count", OPT_PTR, nnfi_group_cfg, count),
    CYAML_FIELD_FLOAT_PTR("rate", OPT_PTR, nnfi_group_cfg, rate),
    CYAML_FIELD_STRING_PTR("fault_model", OPT_PTR, nnfi_group_cfg, fault_model, 1, NNFI_CONFIG_MAX_PATH),
    CYAML_FIELD_SEQUENCE("value_range", OPT_PTR, nnfi_group_cfg, value_range, &double_entry, 2, 2),
    CYAML_FIELD_FLOAT_PTR("fit", OPT_PTR, nnfi_group_cfg, fit),
    CYAML_FIELD_END};
static const cyaml_schema_value_t group_entry = {
    CYAML_VALUE_MAPPING(CYAML_FLAG_DEFAULT, nnfi_group_cfg, group_fields)};

static const cyaml_schema_field_t sweep_fields[] = {
    CYAML_FIELD_SEQUENCE("faults", OPT_PTR, nnfi_sweep_cfg, faults, &uint64_entry, 1, NNFI_MAX_POINTS),
    CYAML_FIELD_SEQUENCE("rates", OPT_PTR, nnfi_sweep_cfg, rates, &double_entry, 1, NNFI_MAX_POINTS),
    ENUM_FIELD("draw", OPT, nnfi_sweep_cfg, draw, nnfi_cfg_draw_strings),
    CYAML_FIELD_END};

static const cyaml_schema_field_t budget_fields[] = {
    CYAML_FIELD_FLOAT("margin", CYAML_FLAG_DEFAULT, nnfi_budget_cfg, margin),
    CYAML_FIELD_FLOAT("confidence", CYAML_FLAG_DEFAULT, nnfi_budget_cfg, confidence),
    CYAML_FIELD_FLOAT_PTR("p", OPT_PTR, nnfi_budget_cfg, p),
    CYAML_FIELD_END};

static const cyaml_schema_field_t stop_fields[] = {
    ENUM_FIELD("watch", CYAML_FLAG_DEFAULT, nnfi_stop_cfg, watch, nnfi_cfg_watch_strings),
    CYAML_FIELD_FLOAT("threshold", OPT, nnfi_stop_cfg, threshold),
    CYAML_FIELD_FLOAT("width", CYAML_FLAG_DEFAULT, nnfi_stop_cfg, width),
    CYAML_FIELD_FLOAT("confidence", OPT, nnfi_stop_cfg, confidence),
    CYAML_FIELD_UINT("min", OPT, nnfi_stop_cfg, min),
    CYAML_FIELD_UINT("max", CYAML_FLAG_DEFAULT, nnfi_stop_cfg, max),
    CYAML_FIELD_END};

static const cyaml_schema_field_t search_fields[] = {
    CYAML_FIELD_STRING_PTR("find", CYAML_FLAG_POINTER, nnfi_search_cfg, find, 1, 32),
    CYAML_FIELD_UINT("elements", CYAML_FLAG_DEFAULT, nnfi_search_cfg, elements),
    CYAML_FIELD_UINT("exhaustive_check", OPT, nnfi_search_cfg, exhaustive_check),
    ENUM_FIELD("criterion", OPT, nnfi_search_cfg, criterion, nnfi_cfg_watch_strings),
    CYAML_FIELD_FLOAT("threshold", OPT, nnfi_search_cfg, threshold),
    CYAML_FIELD_UINT("pilot", OPT, nnfi_search_cfg, pilot),
    CYAML_FIELD_UINT("pool", OPT, nnfi_search_cfg, pool),
    CYAML_FIELD_FLOAT("strata_width", OPT, nnfi_search_cfg, strata_width),
    CYAML_FIELD_UINT("strata_max", OPT, nnfi_search_cfg, strata_max),
    CYAML_FIELD_END};

static const cyaml_schema_field_t experiment_fields[] = {
    CYAML_FIELD_STRING_PTR("name", CYAML_FLAG_POINTER, nnfi_experiment_cfg, name, 1, 64),
    CYAML_FIELD_STRING_PTR("model", CYAML_FLAG_POINTER, nnfi_experiment_cfg, model, 1, 64),
    CYAML_FIELD_SEQUENCE("groups", CYAML_FLAG_POINTER, nnfi_experiment_cfg, groups, &group_entry, 1, NNFI_MAX_GROUPS),
    CYAML_FIELD_MAPPING_PTR("sweep", OPT_PTR, nnfi_experiment_cfg, sweep, sweep_fields),
    CYAML_FIELD_UINT_PTR("trials", OPT_PTR, nnfi_experiment_cfg, trials),
    CYAML_FIELD_MAPPING_PTR("budget", OPT_PTR, nnfi_experiment_cfg, budget, budget_fields),
    CYAML_FIELD_MAPPING_PTR("stop", OPT_PTR, nnfi_experiment_cfg, stop, stop_fields),
    CYAML_FIELD_MAPPING_PTR("search", OPT_PTR, nnfi_experiment_cfg, search, search_fields),
    CYAML_FIELD_END};
static const cyaml_schema_value_t experiment_entry = {
    CYAML_VALUE_MAPPING(CYAML_FLAG_DEFAULT, nnfi_experiment_cfg, experiment_fields)};

static const cyaml_schema_field_t output_fields[] = {
    CYAML_FIELD_STRING_PTR("path", OPT_PTR, nnfi_output_cfg, path, 1, NNFI_CONFIG_MAX_PATH),
    CYAML_FIELD_UINT("faults_max_n", OPT, nnfi_output_cfg, faults_max_n),
    CYAML_FIELD_END};

static const cyaml_schema_field_t campaign_fields[] = {
    CYAML_FIELD_STRING_PTR("name", OPT_PTR, nnfi_campaign, name, 1, 64),
    CYAML_FIELD_UINT("seed", CYAML_FLAG_DEFAULT, nnfi_campaign, seed),
    CYAML_FIELD_SEQUENCE("models", CYAML_FLAG_POINTER, nnfi_campaign, models, &model_entry, 1, 64),
    CYAML_FIELD_MAPPING_PTR("eval", OPT_PTR, nnfi_campaign, eval, eval_fields),
    CYAML_FIELD_SEQUENCE("experiments", CYAML_FLAG_POINTER, nnfi_campaign, experiments, &experiment_entry, 1, NNFI_MAX_EXPERIMENTS),
    CYAML_FIELD_MAPPING_PTR("output", OPT_PTR, nnfi_campaign, output, output_fields),
    CYAML_FIELD_END};
const cyaml_schema_value_t nnfi_cfg_campaign_schema = {
    CYAML_VALUE_MAPPING(CYAML_FLAG_POINTER, nnfi_campaign, campaign_fields)};
