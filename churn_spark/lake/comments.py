"""What each table of the warehouse holds, in words: the catalog's table and column comments.

:class:`churn_spark.lake.tables.Lake` writes the column comments into each table's Delta
schema and sets the table comment in the catalog, so ``DESCRIBE TABLE EXTENDED``, ``SHOW
TABLES`` and a BI tool over the Thrift server show documented tables. A table not listed
here gets no comments; a column not listed gets none.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class TableComment:
    """The comment of one table and of (some of) its columns."""

    comment: str
    columns: dict[str, str] = field(default_factory=dict)


TABLE_COMMENTS: dict[str, TableComment] = {
    "changes": TableComment(
        "Bronze (generated world): one row per change of payment method, distribution channel or edition, effective "
        "from the next term.",
        {
            "change_id": "Unique id of the change.",
            "customer_id": "The customer whose subscription changed.",
            "change_date": "Date the change was made.",
            "kind": "What changed: payment_method, channel (delivery) or edition.",
            "old_value": ("Value before the change (a payment method, a delivery mail/carrier/shop, or an edition "
                          "X1/X2/X3)."),
            "new_value": "Value after the change, same coding as old_value.",
        },
    ),
    "churn_scores": TableComment(
        "Gold: the units without a label (split 'score') ranked by predicted churn probability, for a retention "
        "campaign.",
        {
            "unit_id": "The unit scored (a subscription at its renewal point), as in observations.",
            "customer_id": "The customer who holds the subscription.",
            "has_emails": ("The customer wrote at least one email in the unit's window (then scored by "
                           "structured_text)."),
            "p_churn": "Predicted probability of churn, in [0, 1].",
            "model": "Model that scored it: structured_text (unit with emails) or structured (unit without).",
            "rank": "Rank by p_churn among all scored units, 1 = most likely to churn.",
            "decile": "Decile of rank: 1 = the 10% most likely to churn ... 10 = the 10% least likely.",
            "model_version": "Run id of the models stage that fitted the models used.",
        },
    ),
    "complaints": TableComment(
        "Bronze (generated world): one row per complaint of a customer, with its compensation in free newspapers.",
        {
            "complaint_id": "Unique id of the complaint.",
            "customer_id": "The customer who complained.",
            "subscription_id": "The subscription term during which the complaint was made.",
            "complaint_date": "Date of the complaint.",
            "reason": "Reason: late_delivery, missing_issue, damaged_issue or wrong_edition.",
            "compensation_papers": "Free newspapers given as compensation (0 = none).",
        },
    ),
    "customers": TableComment(
        "Bronze (generated world): one row per customer; phone, mobile, email and address are raw personal data kept "
        "only in bronze.",
        {
            "customer_id": "Unique id of the customer.",
            "gender": "F or M; NULL = unknown (companies, public institutions, some persons).",
            "age": "Age in years; NULL = unknown.",
            "customer_type": "physical_person, company or public_institution.",
            "has_phone": "A phone number is known (phone is filled).",
            "has_mobile": "A mobile number is known (mobile is filled).",
            "has_email": "An email address is known (email is filled).",
            "customer_since": "Date the customer's first subscription was ordered.",
            "phone": "Raw personal data: phone number; NULL if unknown. Not copied to any later table.",
            "mobile": "Raw personal data: mobile number; NULL if unknown. Not copied to any later table.",
            "email": "Raw personal data: email address; NULL if unknown. Not copied to any later table.",
            "address": "Raw personal data: postal address. Not copied to any later table.",
        },
    ),
    "decile_lift": TableComment(
        "Gold: churners and lift per decile of predicted churn probability on the test set, for each model.",
        {
            "model": "structured or structured_text.",
            "decile": "1 = the 10% of test units most likely to churn ... 10 = the 10% least likely.",
            "n": "Test units per decile (all test units / 10, so possibly fractional).",
            "n_pos": "Churners in the decile (units with tied scores shared pro rata, so possibly fractional).",
            "churn_rate": "n_pos / n, a fraction.",
            "lift": "churn_rate / churn rate of all test units (1.0 = random).",
        },
    ),
    "delong_test": TableComment(
        "Gold: DeLong's test of two correlated test-set AUCs (structured_text against structured), one row per pair "
        "of models.",
        {
            "model_a": "Reference model (structured).",
            "model_b": "Model compared with it (structured_text).",
            "auc_a": "Test AUC of model_a, a fraction in [0, 1].",
            "auc_b": "Test AUC of model_b, a fraction in [0, 1].",
            "auc_diff": "auc_b - auc_a.",
            "se_diff": "DeLong standard error of auc_diff.",
            "chi2": "Test statistic auc_diff^2 / Var(auc_diff), chi-square with 1 d.f.",
            "p_value": "p-value of chi2 (two-sided test of equal AUCs).",
        },
    ),
    "dm_actions": TableComment(
        "Bronze (generated world): one row per direct-marketing action sent to a customer, retention calls and "
        "letters included.",
        {
            "action_id": "Unique id of the action.",
            "customer_id": "The customer addressed.",
            "action_date": "Date of the action.",
            "campaign": ("Campaign: crosssell_magazine, upgrade_offer, loyalty_gift, survey, retention_call, "
                         "retention_letter or winback."),
            "channel": "Channel: mail, phone or email.",
            "responded": "The customer responded (as known at the extract date, 2005-09-30).",
            "response_date": "Date of the response (for retention steps: the renewal order); NULL if none.",
        },
    ),
    "doc_vectors": TableComment(
        "Silver: one row per unit of observations: its emails in the window, counted and summed into one log-tf x idf "
        "term vector.",
        {
            "unit_id": "The unit, as in observations.",
            "customer_id": "The customer who holds the unit.",
            "split": "train, test or score, as in observations.",
            "churn": "The label, as in observations: 1 = churned, 0 = renewed; NULL = to be scored.",
            "n_emails": "Emails of the customer in the unit's window, window_start < day(sent_at) <= cutoff_date.",
            "has_emails": "n_emails > 0.",
            "vector": ("Sum of the window's email vectors, w = log2(n + 1) x idf; sparse vector struct (type, size, "
                       "indices = term_id, values)."),
        },
    ),
    "email_terms": TableComment(
        "Silver: the terms of each email in some unit's window: cleaned, personal data masked, segmented and "
        "normalised; no raw text.",
        {
            "email_id": "The email, as in emails.",
            "customer_id": "The customer who wrote it.",
            "sent_at": "When it was sent (UTC).",
            "terms": ("Its normalised terms in text order, one entry per occurrence (nouns, verbs, adjectives, "
                      "adverbs; synonyms mapped)."),
        },
    ),
    "emails": TableComment(
        "Bronze: the call-center emails as ingested or generated, one row per email (raw text, personal data "
        "included; kept only in bronze).",
        {
            "email_id": "Unique id of the email.",
            "customer_id": "The customer who wrote it.",
            "sent_at": "When it was sent (UTC; input times without a zone are read in ingest.naive_timezone).",
            "subject": "Raw subject line; NULL if none.",
            "body": ("Raw personal data: the body as written (HTML, quotes, signatures, contact data); later tables "
                     "get masked terms only."),
        },
    ),
    "feature_selection": TableComment(
        "Gold: forward selection of the marketing variables on the training units with emails (Table 3), one row per "
        "variable entered.",
        {
            "step": "Order of entry, 1 = the first variable entered.",
            "variable": "Encoded candidate name: a marketing column, <column>_missing or a dummy <column>_is_<level>.",
            "label": "Readable description of the candidate, e.g. 'edition = X1'.",
            "score_chi2": "Score chi-square of the candidate when it entered, given the variables entered before.",
            "p_value": "p-value of score_chi2 (1 d.f.); a candidate enters only below selection.entry_p (0.05).",
        },
    ),
    "free_papers": TableComment(
        "Bronze (generated world): one row per gift of free newspapers to a customer.",
        {
            "free_paper_id": "Unique id of the gift.",
            "customer_id": "The customer who received it.",
            "given_date": "Date of the gift.",
            "papers": "Number of free newspapers given.",
            "reason": "Reason: complaint_compensation, promotion or trial.",
        },
    ),
    "k_selection": TableComment(
        "Gold: the number k of LSI concepts by cross-validated AUC on the training units with emails (Fig. 4), one "
        "row per k of the grid.",
        {
            "k": "Number of concepts used (the first k of the SVD), from lsi.k_grid.",
            "mean_auc": "Mean over the folds of the held-out AUC of marketing variables + k concepts.",
            "std_auc": "Sample standard deviation of the fold AUCs.",
            "se_auc": "Standard error of mean_auc: std_auc / sqrt(folds).",
            "fold_aucs": "Held-out AUC of each fold (lsi.cv_folds folds, default 5).",
            "chosen": "The k used by the models (lsi.k_rule; default one_se: smallest k within one SE of the best).",
            "best": "The k with the highest mean_auc.",
        },
    ),
    "lift_curve": TableComment(
        "Gold: cumulative lift curve of each model on the test set (Fig. 6), one row per share of ranked units.",
        {
            "model": "structured or structured_text.",
            "x": "Share of test units targeted, highest churn probability first (0 < x <= 1).",
            "y": "Cumulative lift: churn rate among the targeted units / churn rate of all test units (1.0 = random).",
        },
    ),
    "lsi_concepts": TableComment(
        "Gold: the LSI concepts from the SVD of the training units' term vectors, with their strength and strongest "
        "terms.",
        {
            "concept": "Concept number, 0-based, strongest first (model_coefficients calls it concept_<concept + 1>).",
            "singular_value": "Singular value of the concept.",
            "explained_var": "singular_value^2 / total sum of squares of the training unit-by-term matrix.",
            "top_terms": "The lsi.top_terms (default 20) terms with the largest absolute loading, strongest first.",
        },
    ),
    "lsi_terms": TableComment(
        "Gold: term loadings of the LSI concepts, the lsi.terms_per_concept terms with the largest absolute loading "
        "per concept.",
        {
            "term_id": "The term: vocabulary.term_id.",
            "concept": "Concept number, 0-based, as in lsi_concepts.",
            "loading": "Loading of the term on the concept (entry of the term matrix V; the sign shows its pole).",
        },
    ),
    "model_coefficients": TableComment(
        "Gold: the fitted coefficients of both churn models (maximum-likelihood logistic regression), one row per "
        "model and variable.",
        {
            "model": "structured (selected marketing variables) or structured_text (plus the first k concepts).",
            "variable": ("intercept, an encoded marketing candidate (see feature_selection) or concept_<j> = LSI "
                         "concept j-1."),
            "coefficient": "Estimated coefficient on the log-odds of churn, per unit of the variable.",
            "std_error": "Standard error of the coefficient (inverse information at the estimate).",
            "wald_chi2": "Wald chi-square (coefficient / std_error)^2, 1 d.f.",
            "p_value": "p-value of wald_chi2.",
        },
    ),
    "model_metrics": TableComment(
        "Gold: test-set performance of each churn model (Table 4): AUC with its DeLong interval, top-decile lift, "
        "DeLong test.",
        {
            "model": "structured (selected marketing variables) or structured_text (plus the first k concepts).",
            "n": "Test units evaluated (labelled, with emails).",
            "n_pos": "Churners among them.",
            "auc": "Area under the ROC curve, a fraction in [0, 1] (ties count half).",
            "auc_se": "DeLong standard error of auc.",
            "auc_ci_low": "Lower bound of the confidence interval of auc (evaluation.ci_level, default 95%).",
            "auc_ci_high": "Upper bound of the confidence interval of auc (evaluation.ci_level, default 95%).",
            "top_decile_lift": "Churn rate in the top 10% by probability / overall churn rate (1.0 = random).",
            "delong_chi2": "DeLong chi-square (1 d.f.) of this AUC against structured; NULL for structured.",
            "delong_p": "p-value of delong_chi2; NULL for structured.",
        },
    ),
    "non_emailer_experiment": TableComment(
        "Gold: the paper's Fig. 7, test AUC of the structured model retrained with n training units without emails "
        "added.",
        {
            "model": ("structured_plus_non_emailers (a grid point), or the reference models structured and "
                      "structured_text."),
            "n_added": "Training units without emails added to the units with emails (0 for the reference models).",
            "n_train": "Training units the model was fitted on.",
            "auc": "AUC on the test units with emails, a fraction in [0, 1].",
            "auc_se": "DeLong standard error of auc.",
            "auc_ci_low": "Lower bound of the confidence interval of auc (evaluation.ci_level, default 95%).",
            "auc_ci_high": "Upper bound of the confidence interval of auc (evaluation.ci_level, default 95%).",
            "delong_chi2_vs_text": "DeLong chi-square (1 d.f.) against structured_text; NULL for structured_text.",
            "delong_p_vs_text": "p-value of delong_chi2_vs_text; NULL for structured_text.",
        },
    ),
    "observations": TableComment(
        "Silver: one row per unit of analysis (a subscription at its renewal point): label, split and the marketing "
        "variables.",
        {
            "unit_id": "Unique id of the unit (generated world: the subscription_id).",
            "customer_id": "The customer who holds it; links the emails.",
            "cutoff_date": ("Prediction point (generated: the expiry date, i.e. the renewal point); the variables use "
                            "only history before it."),
            "window_start": ("Start of the email window, exclusive (generated: the term's start_date); NULL = "
                             "cutoff_date - text.window_days."),
            "churn": ("1 = churned (generated: no renewal ordered within 28 days after cutoff_date), 0 = renewed; NULL "
                      "= to be scored."),
            "split": "train or test (seeded hash of unit_id unless given); score for units without a label.",
            "n_complaints": "Complaints in the history (30 months before cutoff_date).",
            "days_since_last_complaint": "Days from the last complaint to cutoff_date (history length if none).",
            "avg_complaint_compensation": "Average compensation of the complaints, in free newspapers (0 if none).",
            "n_complaints_current_term": "Complaints during the current (last) subscription term.",
            "avg_complaint_position": ("Average position of this term's complaints in the term: 0 = start, 1 = end (0 "
                                       "if none)."),
            "purchase_motivator": ("Purchase motivator of the current subscription: renewal, retention_call, "
                                   "dm_campaign, promotion_gift, ..."),
            "delivery": "How the paper is delivered in the current term: mail, carrier or shop (pick-up).",
            "payment_method": ("Payment method of the current subscription (direct_debit, bank_transfer, credit_card, "
                               "cash)."),
            "edition": "Edition of the current subscription: X1, X2 or X3.",
            "n_channel_changes": "Changes of distribution channel in the history.",
            "n_channel_changes_per_year": "Channel changes per subscribed year (n / tenure_days x 365).",
            "days_since_last_channel_change": "Days since the last channel change (history length if none).",
            "n_payment_changes": "Changes of payment method in the history.",
            "n_payment_changes_per_year": "Payment-method changes per subscribed year (n / tenure_days x 365).",
            "days_since_last_payment_change": "Days since the last payment-method change (history length if none).",
            "n_edition_changes": "Changes of edition in the history.",
            "n_edition_changes_per_year": "Edition changes per subscribed year (n / tenure_days x 365).",
            "days_since_last_edition_change": "Days since the last edition change (history length if none).",
            "n_dm_actions": "Direct-marketing actions received in the history (retention steps included).",
            "n_dm_responses": "Responses to direct-marketing actions in the history (by response date).",
            "days_since_last_dm_response": ("Days since the last response to a direct-marketing action (history length "
                                            "if none)."),
            "n_suspensions": "Suspensions started in the history.",
            "n_suspensions_per_year": "Suspensions per subscribed year (n / tenure_days x 365).",
            "avg_suspension_days": "Average suspension length in days, end - start + 1 (0 if none).",
            "suspension_days_per_year": "Suspended days per subscribed year.",
            "days_since_last_suspension": "Days since the start of the last suspension (history length if none).",
            "n_free_papers": "Free newspapers received in the history (compensations, promotions, trials).",
            "is_renewal": "The current subscription renews a previous one.",
            "prev_renewed_before_expiry": "The previous subscription was renewed before its expiry date.",
            "prev_days_before_expiry": ("Days before the previous subscription's expiry that it was renewed (negative "
                                        "= late; 0 if not a renewal)."),
            "avg_days_before_expiry": "Average days-before-expiry of the renewals in the history (0 if none).",
            "var_days_before_expiry": ("Population variance of days-before-expiry of the renewals in the history (0 if "
                                       "none)."),
            "days_since_last_retention_step": "Days since the last retention call or letter (history length if none).",
            "n_not_renewed": "Times the customer did not renew in the history.",
            "n_renewal_points": "Renewal points (expiry dates) in the history before cutoff_date.",
            "n_renewals": "Renewals (subscriptions started as a renewal) in the history.",
            "age": "Age of the subscriber in years; NULL = unknown.",
            "age_known": "The age is known.",
            "gender": "F, M or unknown (companies, institutions).",
            "customer_type": "physical_person, company or public_institution.",
            "has_phone": "A phone number is known (the number itself is not in this table).",
            "has_mobile": "A mobile number is known (the number itself is not in this table).",
            "has_email": "An email address is known (the address itself is not in this table).",
            "days_since_last_renewal": "Days since the last renewal was ordered (history length if none).",
            "monetary_value": "Sum of the prices of the subscriptions started in the history, EUR.",
            "subscription_length_days": "Length of the current subscription, expiry - start + 1, in days.",
            "tenure_days": "Days the customer was subscribed during the history.",
            "days_per_week": "Days a week the paper is delivered (6, 3 or 1).",
            "price": "Price of the current subscription, EUR.",
            "expiry_month": "Month of the contract expiry, 1-12.",
        },
    ),
    "pipeline_runs": TableComment(
        "Operations: one row per completed stage or experiment run, with its configuration hash, table versions and "
        "duration.",
        {
            "run_id": "Id of the run (job); the Delta commits it made carry the same id in userMetadata.",
            "stage": "Stage name (generate, ingest, text, ..., score) or experiment add-non-emailers.",
            "config_hash": "First 16 hex digits of the SHA-256 of the configuration sections the stage depends on.",
            "inputs": "JSON {table: Delta version} of the tables the stage depended on (artefact tables included).",
            "outputs": "JSON {table: Delta version} of the tables it wrote.",
            "started_at": "When the stage started (UTC).",
            "seconds": "Wall-clock duration of the stage, in seconds.",
            "summary": "JSON of what the stage reported (counts, metrics, timings).",
        },
    ),
    "quarantine": TableComment(
        "Bronze: the input rows ingest rejected, one row per row with the first rule it broke; record is raw and may "
        "hold personal data.",
        {
            "source": "Input the row came from: emails or observations.",
            "row_id": "The row's email_id or unit_id as read (blanks trimmed); NULL when missing.",
            "reason": "First rule broken, e.g. missing body, unparseable sent_at, duplicate unit_id, unknown customer.",
            "record": "The raw input row as JSON under its own column names (null fields left out).",
            "run_id": "Id of the ingest run.",
            "ingested_at": "When the ingest ran (UTC).",
        },
    ),
    "roc_curve": TableComment(
        "Gold: ROC curve of each model on the test set (Fig. 5), one row per share of ranked units "
        "(evaluation.curve_points + 1 points).",
        {
            "model": "structured or structured_text.",
            "x": "False positive rate: share of the non-churners ranked above the cut-off.",
            "y": "True positive rate: share of the churners ranked above the cut-off.",
        },
    ),
    "smoke_check": TableComment(
        "Operations: scratch table of churn-spark smoke, which writes, overwrites and time-travels it to check Spark "
        "and Delta; no real data.",
        {
            "unit": "Row number 0-999 (test data).",
            "decile": ("unit mod 10 in version 0; the overwrite keeps the rows with decile 0-4 and adds 100 (test "
                       "data)."),
        },
    ),
    "subscriptions": TableComment(
        "Bronze (generated world): one row per subscription term; a term's expiry date is its renewal point.",
        {
            "subscription_id": "Unique id of the subscription term.",
            "customer_id": "The subscriber.",
            "previous_subscription_id": "The subscription this one renews; NULL for a new start (also after a churn).",
            "ordered_at": "Date the subscription was ordered.",
            "start_date": "First day of the term.",
            "expiry_date": "Last day of the term: the renewal point.",
            "edition": "Edition: X1, X2 or X3.",
            "days_per_week": "Days a week the paper is delivered: 6, 3 or 1.",
            "price": "Price of the term, EUR.",
            "purchase_motivator": ("What led to the order: renewal, retention_call, dm_campaign, promotion_gift, "
                                   "phone_sales, web, shop_sale, referral."),
            "delivery": "Delivery: mail, carrier or shop (pick-up).",
            "payment_method": "Payment method: direct_debit, bank_transfer, credit_card or cash.",
        },
    ),
    "suspensions": TableComment(
        "Bronze (generated world): one row per holiday suspension of delivery.",
        {
            "suspension_id": "Unique id of the suspension.",
            "customer_id": "The subscriber.",
            "subscription_id": "The subscription term during which it started.",
            "start_date": "First day of the suspension.",
            "end_date": "Last day of the suspension (inclusive).",
        },
    ),
    "test_predictions": TableComment(
        "Gold: the test units with emails, their label and the churn probability of both models (the input of the "
        "evaluation).",
        {
            "unit_id": "The test unit, as in observations.",
            "customer_id": "The customer who holds it.",
            "churn": "Label: 1 = churned, 0 = renewed.",
            "p_structured": "Churn probability from the structured model (selected marketing variables).",
            "p_structured_text": "Churn probability from the structured + text model (plus the first k concepts).",
        },
    ),
    "text_masking": TableComment(
        "Silver: how many values of each kind of personal data the text stage masked in the emails it processed.",
        {
            "pii_type": "Kind of personal data: url, email, id_number, bank_card, phone or address.",
            "count": "Values of that kind masked (replaced before segmentation) in the processed emails.",
        },
    ),
    "truth": TableComment(
        "Generator: the generated world's known churn probabilities and mechanism inputs per unit of the renewal "
        "window; only in generated warehouses.",
        {
            "unit_id": "The unit (subscription at its renewal point), as in observations.",
            "customer_id": "The customer who holds it.",
            "has_emails": "The customer wrote at least one email during the unit's term.",
            "n_emails": "Emails the customer wrote during the unit's term.",
            "p_true": "True churn probability, sigmoid(logit_marketing + logit_text).",
            "p_marketing": "Marketing-only oracle: E[p_true | marketing data, has_emails]; = p_true without emails.",
            "logit_marketing": "Intercept plus marketing part of the true churn logit.",
            "logit_text": "Text part of the true churn logit (from the emails' topics); 0 without emails.",
            "churn": "The outcome drawn from p_true: 1 = churned, 0 = renewed.",
            "x_days_since_last_complaint": ("The generated world's value of days_since_last_complaint used in its true "
                                            "churn logit."),
            "x_monetary_value": "The generated world's value of monetary_value used in its true churn logit.",
            "x_days_since_last_suspension": ("The generated world's value of days_since_last_suspension used in its "
                                             "true churn logit."),
            "x_subscription_length_days": ("The generated world's value of subscription_length_days used in its true "
                                           "churn logit."),
            "x_avg_complaint_position": ("The generated world's value of avg_complaint_position used in its true churn "
                                         "logit."),
            "x_prev_renewed_before_expiry": ("The generated world's value of prev_renewed_before_expiry used in its "
                                             "true churn logit."),
            "x_gender": "The generated world's value of gender used in its true churn logit.",
            "x_var_days_before_expiry": ("The generated world's value of var_days_before_expiry used in its true churn "
                                         "logit."),
            "x_n_renewal_points": "The generated world's value of n_renewal_points used in its true churn logit.",
            "x_edition": "The generated world's value of edition used in its true churn logit.",
            "x_customer_type": "The generated world's value of customer_type used in its true churn logit.",
            "x_prev_days_before_expiry": ("The generated world's value of prev_days_before_expiry used in its true "
                                          "churn logit."),
            "x_n_suspensions_per_year": ("The generated world's value of n_suspensions_per_year used in its true churn "
                                         "logit."),
            "x_avg_suspension_days": "The generated world's value of avg_suspension_days used in its true churn logit.",
            "x_purchase_motivator": "The generated world's value of purchase_motivator used in its true churn logit.",
            "x_delivery": "The generated world's value of delivery used in its true churn logit.",
            "x_n_complaints_current_term": ("The generated world's value of n_complaints_current_term used in its true "
                                            "churn logit."),
            "x_days_since_last_payment_change": ("The generated world's value of days_since_last_payment_change used "
                                                 "in its true churn logit."),
            "x_n_payment_changes_per_year": ("The generated world's value of n_payment_changes_per_year used in its "
                                             "true churn logit."),
            "x_n_not_renewed": "The generated world's value of n_not_renewed used in its true churn logit.",
            "x_age": "The generated world's value of age used in its true churn logit.",
            "x_age_known": "The generated world's value of age_known used in its true churn logit.",
            "x_n_dm_responses": "The generated world's value of n_dm_responses used in its true churn logit.",
        },
    ),
    "unit_concepts": TableComment(
        "Gold: the LSI concept loadings of every unit with emails (fold-in of its term vector); units without "
        "emails have no row.",
        {
            "unit_id": "The unit, as in observations.",
            "vector": "The unit's summed log-tf x idf term vector, as in doc_vectors.",
            "concepts": ("Fold-in loadings on all concepts of the SVD, position = concept (0-based); models use the "
                         "first k."),
        },
    ),
    "vocabulary": TableComment(
        "Silver: every term seen in the training emails, with its counts, idf and whether it was excluded from the "
        "vocabulary.",
        {
            "term_id": "Index of the term in the term vectors, 0 = highest df; NULL if excluded.",
            "term": "The normalised term.",
            "df": "Training emails containing the term.",
            "cf": "Occurrences of the term in the training emails.",
            "idf": "log2(N / df) + 1, N = number of training emails.",
            "excluded": "The term is not in the vocabulary (see reason).",
            "reason": "Why excluded: stopword, manual, rare (cf < text.min_term_count) or too_common; NULL if kept.",
        },
    ),
}
