-- Argo CD health of a Herald Template (a message body under review).
-- Progressing: being deleted, or not yet reviewed at this generation.
-- Healthy: Approved. Degraded: Rejected (the findings say why).
-- Suspended: waiting for a reviewer's TemplateApproval (Manual review).
local hs = {}
if obj.metadata.deletionTimestamp ~= nil then
  hs.status = "Progressing"
  hs.message = "Being deleted"
  return hs
end
local status = obj.status or {}
if status.observedGeneration == nil or status.observedGeneration < (obj.metadata.generation or 0) then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to review this generation"
  return hs
end
local ready = nil
for _, condition in ipairs(status.conditions or {}) do
  if condition.type == "Ready" then
    ready = condition
  end
end
local detail = ""
if ready ~= nil then
  detail = ready.reason .. ": " .. (ready.message or "")
end
if status.phase == "Approved" then
  hs.status = "Healthy"
elseif status.phase == "Rejected" then
  hs.status = "Degraded"
elseif ready ~= nil and ready.reason == "AwaitingApproval" then
  hs.status = "Suspended"
else
  hs.status = "Progressing"
  if detail == "" then
    detail = "Waiting for the review"
  end
end
hs.message = detail
return hs
