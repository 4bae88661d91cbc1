"""The table tests/test_field_effects.py holds the API to: each spec field of each kind
and the test that proves what it does.

    Proven("tests/test_x.py::test_y")   the test fails if the field stops working
    Partly("tests/...::test_y")         part works (that test), part is not yet
                                        implemented, and the description says which
    NotYet()                            not yet implemented; its description says so
    Container()                         an object or list: its fields carry the effect
    ForPeople()                         text for people reading the object; its
                                        description says "for people only"

Adding a field to a model means adding its row here, with its test.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Proven:
    test: str


@dataclass(frozen=True)
class Partly:
    test: str


@dataclass(frozen=True)
class NotYet:
    pass


@dataclass(frozen=True)
class Container:
    pass


@dataclass(frozen=True)
class ForPeople:
    pass


EFFECTS: dict[str, Proven | Partly | NotYet | Container | ForPeople] = {
    # Channel
    "Channel.spec.smpp": Container(),
    "Channel.spec.smpp.host": Proven(
        "tests/test_campaign_operator.py::test_examples_run_to_completed"),
    "Channel.spec.smpp.port": Proven(
        "tests/test_campaign_operator.py::test_examples_run_to_completed"),
    "Channel.spec.smpp.tls": Proven(
        "tests/test_channel_tls_operator.py::test_a_campaign_goes_over_mutual_tls"),
    "Channel.spec.smpp.tls.caRef": Proven(
        "tests/test_channel_tls_operator.py::test_a_campaign_goes_over_mutual_tls"),
    "Channel.spec.smpp.tls.caRef.kind": Proven(
        "tests/test_field_gaps.py::test_a_channel_reads_the_secret_keys_it_names"),
    "Channel.spec.smpp.tls.caRef.name": Proven(
        "tests/test_channel_tls_operator.py::test_a_campaign_goes_over_mutual_tls"),
    "Channel.spec.smpp.tls.caRef.key": Proven(
        "tests/test_field_gaps.py::test_a_channel_reads_the_secret_keys_it_names"),
    "Channel.spec.smpp.tls.clientCertSecretRef": Proven(
        "tests/test_channel_tls_operator.py::test_a_campaign_goes_over_mutual_tls"),
    "Channel.spec.smpp.tls.clientCertSecretRef.name": Proven(
        "tests/test_channel_tls_operator.py::test_a_campaign_goes_over_mutual_tls"),
    "Channel.spec.smpp.tls.serverName": Proven(
        "tests/test_field_gaps.py::"
        "test_a_channel_checks_the_smscs_certificate_for_its_server_name"),
    "Channel.spec.smpp.tls.insecureSkipVerify": Proven(
        "tests/test_channel_tls_operator.py::"
        "test_missing_tls_material_and_insecure_skip_verify_say_so"),
    "Channel.spec.smpp.systemId": Proven(
        "tests/test_field_gaps.py::test_binds_and_submits_carry_the_channels_smpp_settings"),
    "Channel.spec.smpp.passwordSecretRef": Proven(
        "tests/test_channel_plan.py::test_ready_follows_secret_and_bind"),
    "Channel.spec.smpp.passwordSecretRef.name": Proven(
        "tests/test_field_gaps.py::test_a_channel_reads_the_secret_keys_it_names"),
    "Channel.spec.smpp.passwordSecretRef.key": Proven(
        "tests/test_field_gaps.py::test_a_channel_reads_the_secret_keys_it_names"),
    "Channel.spec.smpp.password": Proven("tests/test_crds.py::test_bad_manifest_is_rejected"),
    "Channel.spec.smpp.systemType": Proven(
        "tests/test_field_gaps.py::test_binds_and_submits_carry_the_channels_smpp_settings"),
    "Channel.spec.smpp.bindMode": Proven(
        "tests/test_bind_modes.py::test_a_pair_recovers_each_bind_on_its_own"),
    "Channel.spec.smpp.enquireLinkIntervalSeconds": Proven(
        "tests/test_channel_receiver.py::test_an_idle_bind_stays_up_on_enquire_links"),
    "Channel.spec.smpp.responseTimeoutSeconds": Proven(
        "tests/test_field_gaps.py::test_a_submit_unanswered_past_the_timeout_is_counted_unknown"),
    "Channel.spec.smpp.window": Proven(
        "tests/test_field_gaps.py::test_a_bind_keeps_at_most_window_submits_unanswered"),
    "Channel.spec.smpp.sourceAddr": Container(),
    "Channel.spec.smpp.sourceAddr.address": Proven(
        "tests/test_field_gaps.py::test_binds_and_submits_carry_the_channels_smpp_settings"),
    "Channel.spec.smpp.sourceAddr.ton": Proven(
        "tests/test_field_gaps.py::test_binds_and_submits_carry_the_channels_smpp_settings"),
    "Channel.spec.smpp.sourceAddr.npi": Proven(
        "tests/test_field_gaps.py::test_binds_and_submits_carry_the_channels_smpp_settings"),
    "Channel.spec.smpp.sourceAddresses": Proven(
        "tests/test_source_pool.py::test_a_shard_goes_out_from_the_pool_by_country_and_in_turn"),
    "Channel.spec.smpp.sourceAddresses[].address": Proven(
        "tests/test_source_pool.py::test_a_shard_goes_out_from_the_pool_by_country_and_in_turn"),
    "Channel.spec.smpp.sourceAddresses[].ton": Proven(
        "tests/test_field_gaps.py::test_binds_and_submits_carry_the_channels_smpp_settings"),
    "Channel.spec.smpp.sourceAddresses[].npi": Proven(
        "tests/test_field_gaps.py::test_binds_and_submits_carry_the_channels_smpp_settings"),
    "Channel.spec.smpp.sourceAddresses[].countries": Proven(
        "tests/test_source_pool.py::test_a_shard_goes_out_from_the_pool_by_country_and_in_turn"),
    "Channel.spec.smpp.sourceAddresses[].messagesPerSecond": Proven(
        "tests/test_source_pool.py::test_a_rate_limited_address_keeps_its_rate_and_holds_up_no_other"),
    "Channel.spec.smpp.sourceSelection": Proven(
        "tests/test_source_pool.py::test_sticky_keeps_each_number_on_its_address_in_a_second_campaign"),
    "Channel.spec.smpp.gsm7Coding": Proven(
        "tests/test_smpp_oracle.py::test_each_coding_sends_octets_that_read_back_as_written"),
    "Channel.spec.rateLimit": Container(),
    "Channel.spec.rateLimit.messagesPerSecond": Proven(
        "tests/test_field_gaps.py::test_the_channel_and_campaign_rates_pace_the_sender"),
    "Channel.spec.rateLimit.burst": Proven(
        "tests/test_rate_limit.py::test_burst_is_granted_then_paced"),
    "Channel.spec.maxBinds": Proven(
        "tests/test_bind_cap.py::test_two_senders_stay_within_the_channel_bind_cap"),
    "Channel.spec.routing": Proven(
        "tests/test_routed_campaigns.py::test_recipients_are_split_across_channels_by_carrier_and_prefix"),
    "Channel.spec.routing.countries": Proven(
        "tests/test_routed_import.py::test_each_number_is_queued_for_the_first_channel_that_serves_it"),
    "Channel.spec.routing.prefixes": Proven(
        "tests/test_routed_campaigns.py::test_recipients_are_split_across_channels_by_carrier_and_prefix"),
    "Channel.spec.routing.carriers": Proven(
        "tests/test_routed_campaigns.py::test_recipients_are_split_across_channels_by_carrier_and_prefix"),
    "Channel.spec.retry": Container(),
    "Channel.spec.retry.maxAttempts": Proven(
        "tests/test_field_gaps.py::test_a_channels_sending_settings_reach_its_senders"),
    "Channel.spec.retry.initialBackoffSeconds": Proven(
        "tests/test_shard_sender.py::test_what_a_failed_submit_means"),
    "Channel.spec.retry.maxBackoffSeconds": Proven(
        "tests/test_shard_sender.py::test_what_a_failed_submit_means"),
    "Channel.spec.retry.failOver": Proven(
        "tests/test_failover.py::test_a_message_that_spends_its_attempts_moves_to_the_next_channel"),
    "Channel.spec.retry.failoverAfterSeconds": Proven(
        "tests/test_routed_campaigns.py::test_a_channel_down_mid_run_"
        "moves_its_queue_on_and_takes_it_back_when_ready"),
    "Channel.spec.retry.resendUnknown": Proven(
        "tests/test_shard_sender.py::test_resend_unknown_sends_again_what_a_dropped_bind_left_unanswered"),
    "Channel.spec.retry.overrides": Container(),
    "Channel.spec.retry.overrides[].commandStatus": Proven(
        "tests/test_field_gaps.py::test_a_channels_sending_settings_reach_its_senders"),
    "Channel.spec.retry.overrides[].errorClass": Proven(
        "tests/test_field_gaps.py::test_a_channels_sending_settings_reach_its_senders"),
    "Channel.spec.defaultRegion": Proven(
        "tests/test_opt_outs.py::test_national_stop_and_start_reach_the_number_sent_to"),
    "Channel.spec.optIn": Container(),
    "Channel.spec.optIn.keywords": Proven(
        "tests/test_opt_outs.py::test_national_stop_and_start_reach_the_number_sent_to"),
    "Channel.spec.keywordReplies": Proven(
        "tests/test_keyword_replies.py::test_keyword_replies_reach_the_receiver_pod"),
    "Channel.spec.keywordReplies.help": Container(),
    "Channel.spec.keywordReplies.help.keywords": Proven(
        "tests/test_keyword_replies.py::test_help_is_answered_from_the_address_it_was_sent_to"),
    "Channel.spec.keywordReplies.help.reply": Proven(
        "tests/test_keyword_replies.py::test_help_is_answered_from_the_address_it_was_sent_to"),
    "Channel.spec.keywordReplies.optOutReply": Proven(
        "tests/test_keyword_replies.py::test_stop_is_confirmed_once_however_often_it_comes"),
    "Channel.spec.keywordReplies.optInReply": Proven(
        "tests/test_keyword_replies.py::test_start_is_confirmed_and_the_next_stop_again"),
    "Channel.spec.keywordReplies.custom": Container(),
    "Channel.spec.keywordReplies.custom[].keyword": Proven(
        "tests/test_keyword_replies.py::test_a_custom_keyword_is_answered_and_records_its_label"),
    "Channel.spec.keywordReplies.custom[].reply": Proven(
        "tests/test_keyword_replies.py::test_a_custom_keyword_is_answered_and_records_its_label"),
    "Channel.spec.keywordReplies.custom[].label": Proven(
        "tests/test_keyword_replies.py::test_a_custom_keyword_is_answered_and_records_its_label"),
    "Channel.spec.pricing": Container(),
    "Channel.spec.pricing.currency": Proven(
        "tests/test_campaign_presend.py::test_cost_per_channel_and_country"),
    "Channel.spec.pricing.pricePerSegment": Proven(
        "tests/test_campaign_presend.py::test_cost_per_channel_and_country"),
    "Channel.spec.pricing.countries": Container(),
    "Channel.spec.pricing.countries[].country": Proven(
        "tests/test_campaign_presend.py::test_cost_per_channel_and_country"),
    "Channel.spec.pricing.countries[].pricePerSegment": Proven(
        "tests/test_campaign_presend.py::test_cost_per_channel_and_country"),

    # Template
    "Template.spec.category": Proven("tests/test_template_review.py::test_review_outcome"),
    "Template.spec.body": Proven(
        "tests/test_shard_sender.py::test_every_message_submitted_once_and_delivered"),
    "Template.spec.variables": Proven("tests/test_template_review.py::test_review_outcome"),
    "Template.spec.variables[].name": Proven("tests/test_template_review.py::test_review_outcome"),
    "Template.spec.variables[].description": ForPeople(),
    "Template.spec.variables[].example": Proven(
        "tests/test_template_review.py::test_preview_composes_signature_body_and_opt_out"),
    "Template.spec.signature": Proven(
        "tests/test_field_gaps.py::test_recipients_read_what_the_preview_shows"),
    "Template.spec.signaturePlacement": Proven(
        "tests/test_field_gaps.py::test_recipients_read_what_the_preview_shows"),
    "Template.spec.optOutText": Proven(
        "tests/test_field_gaps.py::test_recipients_read_what_the_preview_shows"),
    "Template.spec.locale": Proven(
        "tests/test_field_gaps.py::test_recipients_read_what_the_preview_shows"),
    "Template.spec.review": Proven("tests/test_template_review.py::test_review_outcome"),
    "Template.spec.flash": Proven("tests/test_smpp_oracle.py::test_a_flash_template_sends_class_0"),

    # TemplateApproval
    "TemplateApproval.spec.templateName": Proven(
        "tests/test_template_operator.py::test_manual_approval_then_edit_voids_it"),
    "TemplateApproval.spec.contentHash": Proven(
        "tests/test_template_review.py::test_manual_review"),
    "TemplateApproval.spec.note": Proven(
        "tests/test_field_gaps.py::test_an_approvals_note_cannot_be_rewritten"),

    # Campaign
    "Campaign.spec.templateRef": Container(),
    "Campaign.spec.templateRef.name": Proven(
        "tests/test_campaign_operator.py::test_missing_template_waits_then_runs"),
    "Campaign.spec.variants": Container(),
    "Campaign.spec.variants[].name": Proven(
        "tests/test_campaign_operator.py::test_examples_run_to_completed"),
    "Campaign.spec.variants[].templateRef": Container(),
    "Campaign.spec.variants[].templateRef.name": Proven(
        "tests/test_field_gaps.py::test_each_variant_sends_the_template_it_names"),
    "Campaign.spec.variants[].weight": Proven(
        "tests/test_shard_import.py::test_variants_split_by_weight_and_stick_to_the_number"),
    "Campaign.spec.holdoutPercent": Proven(
        "tests/test_holdout.py::test_a_campaign_never_sends_to_its_holdout"),
    "Campaign.spec.trigger": Proven(
        "tests/test_trigger_campaigns.py::test_posted_events_are_sent_once_each_until_cancelled"),
    "Campaign.spec.ingest": Container(),
    "Campaign.spec.ingest.tokenSecretRef": Proven(
        "tests/test_trigger_campaigns.py::test_posted_events_are_sent_once_each_until_cancelled"),
    "Campaign.spec.ingest.tokenSecretRef.name": Proven(
        "tests/test_trigger_campaigns.py::test_posted_events_are_sent_once_each_until_cancelled"),
    "Campaign.spec.ingest.tokenSecretRef.key": Proven(
        "tests/test_trigger_campaigns.py::test_posted_events_are_sent_once_each_until_cancelled"),
    "Campaign.spec.ingest.defaultRegion": Proven(
        "tests/test_trigger_plan.py::test_it_opens_without_an_importer_and_its_senders_follow"),
    "Campaign.spec.ingest.maxQueued": Proven(
        "tests/test_trigger_plan.py::test_live_edits_reach_the_ingest_pods"),
    "Campaign.spec.ingest.retentionSeconds": Proven(
        "tests/test_ingest.py::test_key_forgotten_after_retention"),
    "Campaign.spec.canary": Container(),
    "Campaign.spec.canary.percent": Proven(
        "tests/test_canary.py::test_a_failing_canary_pauses_after_its_share_and_a_person_sends"
        "_the_rest"),
    "Campaign.spec.canary.holdSeconds": Proven(
        "tests/test_canary.py::test_the_judgement_waits_for_hold_seconds"),
    "Campaign.spec.canary.maxFailurePercent": Proven(
        "tests/test_canary.py::test_a_failing_canary_pauses_after_its_share_and_a_person_sends"
        "_the_rest"),
    "Campaign.spec.canary.maxOptOutPercent": Proven(
        "tests/test_canary.py::test_a_canary_whose_recipients_opt_out_fails"),
    "Campaign.spec.autoPause": Container(),
    "Campaign.spec.autoPause.maxFailurePercent": Proven(
        "tests/test_canary.py::test_auto_pause_stops_a_failing_run_and_a_person_resumes_it"),
    "Campaign.spec.autoPause.maxOptOutPercent": Proven(
        "tests/test_canary.py::test_auto_pause_counts_the_runs_opt_outs_and_pauses_on_them"),
    "Campaign.spec.autoPause.minMessages": Proven(
        "tests/test_canary.py::test_auto_pause_suspends_the_senders_when_the_run_goes_badly"),
    "Campaign.spec.winner": Container(),
    "Campaign.spec.winner.testPercent": Proven(
        "tests/test_ab_winner.py::test_a_winner_campaign_sends_the_rest_the_winner"),
    "Campaign.spec.winner.decideAfterSeconds": Proven(
        "tests/test_ab_winner.py::test_the_decision_waits_for_decide_after_seconds"),
    "Campaign.spec.winner.metric": Proven(
        "tests/test_links.py::test_the_campaign_plan_decides_a_click_ratio_winner_from_the_counters"),
    "Campaign.spec.winner.confidencePercent": Proven(
        "tests/test_ab_winner.py::test_decide_winner"),
    "Campaign.spec.winner.minSamplePerVariant": Proven(
        "tests/test_ab_winner.py::test_decide_winner"),
    "Campaign.spec.winner.fallback": Proven("tests/test_ab_winner.py::test_decide_winner"),
    "Campaign.spec.winner.manual": Proven(
        "tests/test_ab_winner.py::test_a_manual_winner_is_chosen_without_waiting"),
    "Campaign.spec.channels": Proven(
        "tests/test_routed_campaigns.py::test_a_channel_down_mid_run_"
        "moves_its_queue_on_and_takes_it_back_when_ready"),
    "Campaign.spec.channels[].name": Proven(
        "tests/test_campaign_plan.py::"
        "test_the_run_holds_every_channel_and_routing_passes_over_one_not_ready"),
    "Campaign.spec.audience": Container(),
    "Campaign.spec.audience.inline": Proven(
        "tests/test_field_gaps.py::test_the_audience_decides_who_gets_what"),
    "Campaign.spec.audience.inline[].phone": Proven(
        "tests/test_field_gaps.py::test_the_audience_decides_who_gets_what"),
    "Campaign.spec.audience.inline[].variables": Container(),
    "Campaign.spec.audience.inline[].variables[].name": Proven(
        "tests/test_field_gaps.py::test_the_audience_decides_who_gets_what"),
    "Campaign.spec.audience.inline[].variables[].value": Proven(
        "tests/test_field_gaps.py::test_the_audience_decides_who_gets_what"),
    "Campaign.spec.audience.configMapRef": Proven(
        "tests/test_campaign_operator.py::test_examples_run_to_completed"),
    "Campaign.spec.audience.configMapRef.name": Proven(
        "tests/test_campaign_plan.py::test_import_job_mounts_a_configmap_audience"),
    "Campaign.spec.audience.configMapRef.key": Proven(
        "tests/test_campaign_plan.py::test_import_job_mounts_a_configmap_audience"),
    "Campaign.spec.audience.secretRef": Proven(
        "tests/test_field_gaps.py::test_the_importer_mounts_the_secret_the_audience_names"),
    "Campaign.spec.audience.secretRef.name": Proven(
        "tests/test_field_gaps.py::test_the_importer_mounts_the_secret_the_audience_names"),
    "Campaign.spec.audience.secretRef.key": Proven(
        "tests/test_field_gaps.py::test_the_importer_mounts_the_secret_the_audience_names"),
    "Campaign.spec.audience.url": Proven(
        "tests/test_import_process.py::test_an_xlsx_over_http_is_imported"),
    "Campaign.spec.audience.url.url": Proven(
        "tests/test_import_process.py::test_an_http_csv_is_imported_with_the_secret_headers"),
    "Campaign.spec.audience.url.headersSecretRef": Proven(
        "tests/test_import_process.py::test_an_http_csv_is_imported_with_the_secret_headers"),
    "Campaign.spec.audience.url.headersSecretRef.name": Proven(
        "tests/test_field_gaps.py::test_the_importer_mounts_the_secret_the_audience_names"),
    "Campaign.spec.audience.redisKey": Proven(
        "tests/test_import_process.py::test_a_redis_stream_of_rows_is_imported"),
    "Campaign.spec.audience.format": Proven(
        "tests/test_audience_files.py::test_a_file_that_is_not_its_format_says_what_it_is"),
    "Campaign.spec.audience.sheet": Proven(
        "tests/test_audience_files.py::test_xlsx_reads_the_first_sheet_or_the_named_one"),
    "Campaign.spec.audience.encoding": Proven(
        "tests/test_audience_files.py::test_a_named_encoding_wins_over_detection"),
    "Campaign.spec.audience.importers": Proven(
        "tests/test_campaign_importers.py::test_importers_split_the_list_and_count_as_one"),
    "Campaign.spec.audience.columns": Container(),
    "Campaign.spec.audience.columns.phone": Proven(
        "tests/test_import_process.py::test_a_redis_stream_of_rows_is_imported"),
    "Campaign.spec.audience.columns.timeZone": Proven(
        "tests/test_recipient_windows.py::"
        "test_the_operator_holds_marketing_to_the_default_quiet_hours_until_edited"),
    "Campaign.spec.audience.columns.variables": Container(),
    "Campaign.spec.audience.columns.variables[].name": Proven(
        "tests/test_shard_import.py::test_entries_carry_the_mapped_variables"),
    "Campaign.spec.audience.columns.variables[].value": Proven(
        "tests/test_shard_import.py::test_entries_carry_the_mapped_variables"),
    "Campaign.spec.audience.columns.variables[].type": Proven(
        "tests/test_typed_filters.py::test_filters_see_typed_values"),
    "Campaign.spec.audience.defaultRegion": Proven(
        "tests/test_field_gaps.py::test_the_audience_decides_who_gets_what"),
    "Campaign.spec.audience.filter": Proven(
        "tests/test_typed_filters.py::test_an_import_counts_rows_it_cannot_judge"),
    "Campaign.spec.schedule": Container(),
    "Campaign.spec.schedule.startTime": Proven(
        "tests/test_campaign_plan.py::test_phase_and_ready_reason"),
    "Campaign.spec.schedule.timeZone": Proven(
        "tests/test_campaign_plan.py::test_phase_and_ready_reason"),
    "Campaign.spec.schedule.sendWindow": Container(),
    "Campaign.spec.schedule.sendWindow.start": Proven(
        "tests/test_field_gaps.py::test_the_send_window_opens_from_start_to_end_on_its_days"),
    "Campaign.spec.schedule.sendWindow.end": Proven(
        "tests/test_field_gaps.py::test_the_send_window_opens_from_start_to_end_on_its_days"),
    "Campaign.spec.schedule.sendWindow.days": Proven(
        "tests/test_field_gaps.py::test_the_send_window_opens_from_start_to_end_on_its_days"),
    "Campaign.spec.schedule.sendWindow.timeZoneSource": Proven(
        "tests/test_recipient_windows.py::"
        "test_sigkill_keeps_held_messages_and_an_edit_reaches_the_running_sender"),
    "Campaign.spec.schedule.quietHours": Container(),
    "Campaign.spec.schedule.quietHours.start": Proven(
        "tests/test_recipient_windows.py::"
        "test_the_operator_holds_marketing_to_the_default_quiet_hours_until_edited"),
    "Campaign.spec.schedule.quietHours.end": Proven(
        "tests/test_recipient_windows.py::"
        "test_the_operator_holds_marketing_to_the_default_quiet_hours_until_edited"),
    "Campaign.spec.schedule.recurrence": Proven(
        "tests/test_recurring_campaign_operator.py::test_each_tick_is_a_run_of_its_own"),
    "Campaign.spec.schedule.concurrencyPolicy": Proven(
        "tests/test_campaign_recurrence.py::test_a_tick_while_a_run_is_active"),
    "Campaign.spec.schedule.startingDeadlineSeconds": Proven(
        "tests/test_campaign_recurrence.py::test_a_missed_tick"),
    "Campaign.spec.schedule.successfulRunsHistoryLimit": Proven(
        "tests/test_campaign_recurrence.py::test_history_limits"),
    "Campaign.spec.schedule.failedRunsHistoryLimit": Proven(
        "tests/test_campaign_recurrence.py::test_history_limits"),
    "Campaign.spec.rateLimit": Container(),
    "Campaign.spec.rateLimit.messagesPerSecond": Proven(
        "tests/test_field_gaps.py::test_the_channel_and_campaign_rates_pace_the_sender"),
    "Campaign.spec.senders": Proven(
        "tests/test_campaign_plan.py::test_sender_job_follows_paused_and_senders"),
    "Campaign.spec.compliance": Container(),
    "Campaign.spec.compliance.respectOptOuts": Proven(
        "tests/test_opt_outs.py::test_senders_honour_respect_opt_outs"),
    "Campaign.spec.compliance.frequencyCap": Proven(
        "tests/test_frequency_caps.py::"
        "test_two_campaigns_racing_for_the_same_numbers_never_pass_the_cap"),
    "Campaign.spec.compliance.frequencyCap.maxMessages": Proven(
        "tests/test_frequency_caps.py::test_the_window_slides_by_period_hours"),
    "Campaign.spec.compliance.frequencyCap.periodHours": Proven(
        "tests/test_frequency_caps.py::test_the_window_slides_by_period_hours"),
    "Campaign.spec.compliance.frequencyCap.scope": Proven(
        "tests/test_frequency_caps.py::test_category_scope_counts_only_the_same_category"),
    "Campaign.spec.compliance.dedupe": Proven(
        "tests/test_shard_import.py::test_duplicates_are_suppressed_across_forms_and_batches"),
    "Campaign.spec.compliance.suppressionLists": Proven(
        "tests/test_suppression_lists.py::"
        "test_a_campaign_waits_for_its_list_then_skips_its_numbers"),
    "Campaign.spec.compliance.suppressionLists[].name": Proven(
        "tests/test_suppression_lists.py::test_a_missing_list_is_a_reason"),
    "Campaign.spec.compliance.suppressionLists[].configMapRef": Proven(
        "tests/test_suppression_lists.py::"
        "test_a_campaign_waits_for_its_list_then_skips_its_numbers"),
    "Campaign.spec.compliance.suppressionLists[].configMapRef.name": Proven(
        "tests/test_suppression_lists.py::test_the_import_job_mounts_every_list_in_one_directory"),
    "Campaign.spec.compliance.suppressionLists[].configMapRef.key": Proven(
        "tests/test_suppression_lists.py::test_the_import_job_mounts_every_list_in_one_directory"),
    "Campaign.spec.compliance.suppressionLists[].secretRef": Proven(
        "tests/test_suppression_lists.py::test_the_import_job_mounts_every_list_in_one_directory"),
    "Campaign.spec.compliance.suppressionLists[].secretRef.name": Proven(
        "tests/test_suppression_lists.py::test_the_import_job_mounts_every_list_in_one_directory"),
    "Campaign.spec.compliance.suppressionLists[].secretRef.key": Proven(
        "tests/test_suppression_lists.py::test_the_import_job_mounts_every_list_in_one_directory"),
    "Campaign.spec.compliance.suppressionLists[].url": Proven(
        "tests/test_suppression_lists.py::test_listed_numbers_are_suppressed_from_files_and_urls"),
    "Campaign.spec.compliance.suppressionLists[].column": Proven(
        "tests/test_suppression_lists.py::test_listed_numbers_are_suppressed_from_files_and_urls"),
    "Campaign.spec.links": Container(),
    "Campaign.spec.links.expireAfterSeconds": Proven(
        "tests/test_links.py::test_clicks_through_the_real_redirect_server"),
    "Campaign.spec.export": Proven(
        "tests/test_campaign_export.py::test_spec_export_to_a_claim_is_written_before_the_keys_go"),
    "Campaign.spec.export.format": Proven(
        "tests/test_campaign_export.py::test_spec_export_to_s3_unmasked_through_its_secret"),
    "Campaign.spec.export.destination": Container(),
    "Campaign.spec.export.destination.persistentVolumeClaim": Container(),
    "Campaign.spec.export.destination.persistentVolumeClaim.claimName": Proven(
        "tests/test_campaign_export.py::test_spec_export_to_a_claim_is_written_before_the_keys_go"),
    "Campaign.spec.export.destination.persistentVolumeClaim.path": Proven(
        "tests/test_campaign_export.py::test_spec_export_to_a_claim_is_written_before_the_keys_go"),
    "Campaign.spec.export.destination.url": Proven(
        "tests/test_campaign_export.py::test_spec_export_to_s3_unmasked_through_its_secret"),
    "Campaign.spec.export.destination.credentialsSecretRef": Proven(
        "tests/test_campaign_export.py::test_spec_export_to_s3_unmasked_through_its_secret"),
    "Campaign.spec.export.destination.credentialsSecretRef.name": Proven(
        "tests/test_campaign_export.py::test_spec_export_to_s3_unmasked_through_its_secret"),
    "Campaign.spec.export.unmaskedSecretRef": Proven(
        "tests/test_campaign_export.py::test_spec_export_to_s3_unmasked_through_its_secret"),
    "Campaign.spec.export.unmaskedSecretRef.name": Proven(
        "tests/test_campaign_export.py::test_spec_export_to_s3_unmasked_through_its_secret"),
    "Campaign.spec.dryRun": Proven(
        "tests/test_campaign_operator.py::test_a_dry_run_stops_at_its_plan_then_sends_it"),
    "Campaign.spec.paused": Proven(
        "tests/test_campaign_operator.py::test_pause_and_resume_send_everything_once"),
    "Campaign.spec.cancel": Proven(
        "tests/test_campaign_operator.py::test_cancel_counts_what_was_not_sent"),
}

# A CampaignRun's spec is its Campaign's at the tick, run by the same plan: each field
# does on the run what it does on a one-shot Campaign.
EFFECTS |= {"CampaignRun.spec." + path.removeprefix("Campaign.spec."): effect
            for path, effect in list(EFFECTS.items()) if path.startswith("Campaign.spec.")}
EFFECTS["CampaignRun.spec.scheduledTime"] = Proven(
    "tests/test_campaign_recurrence.py::test_a_run_is_the_campaign_at_its_tick")

