-- Argo CD health of a Herald Campaign (a bulk send), and of a CampaignRun (one run of a
-- recurring Campaign, which has the same status).
-- Progressing: being deleted, not yet observed at this generation, pending, importing,
--   running, or cancelling.
-- Suspended: paused, scheduled (waiting for its start time or send window), or planned
--   (a dry run stopped at its plan, waiting for spec.dryRun false).
-- Healthy: Completed, or Cancelled as asked.
-- Degraded: Failed; Stalled (a missing or unapproved template, no Ready channel, no
--   progress); Degraded (the failure ratio crossed the operator's threshold); AutoPaused
--   (its canary failed or autoPause tripped: it waits for a person).
local hs = {}
if obj.metadata.deletionTimestamp ~= nil then
  hs.status = "Progressing"
  hs.message = "Being deleted"
  return hs
end
local status = obj.status or {}
if status.observedGeneration == nil or status.observedGeneration < (obj.metadata.generation or 0) then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe this generation"
  return hs
end
local conditions = {}
for _, condition in ipairs(status.conditions or {}) do
  conditions[condition.type] = condition
end
local function said(condition)
  return condition.reason .. ": " .. (condition.message or "")
end
local ready = conditions["Ready"]
local phase = status.phase
if phase == "Failed" then
  hs.status = "Degraded"
  hs.message = ready and said(ready) or "Failed"
  return hs
end
for _, kind in ipairs({"AutoPaused", "Stalled", "Degraded"}) do
  local condition = conditions[kind]
  if condition ~= nil and condition.status == "True" then
    hs.status = "Degraded"
    hs.message = said(condition)
    return hs
  end
end
local recurring = obj.spec ~= nil and obj.spec.schedule ~= nil
  and (obj.spec.schedule.recurrence or "") ~= ""
if phase == "Completed" then
  hs.status = "Healthy"
elseif recurring and ready ~= nil and ready.status == "True" then
  -- A recurring campaign between runs or with one going: Healthy, as a CronJob is.
  hs.status = "Healthy"
elseif phase == "Cancelled" and not (ready and ready.reason == "Cancelling") then
  hs.status = "Healthy"
elseif phase == "Paused" or phase == "Scheduled" or phase == "Planned" then
  hs.status = "Suspended"
else
  hs.status = "Progressing"
end
hs.message = ready and said(ready) or (phase or "Waiting for the operator")
return hs
