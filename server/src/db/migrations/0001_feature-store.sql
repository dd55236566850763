-- Up Migration

-- The feature registry: one row per feature the store serves. Model manifests may only use
-- registered features; the server checks this at start-up.
CREATE TABLE feature_registry (
  name        text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_]{0,62}$'),
  description text NOT NULL,
  unit        text NOT NULL,
  data_type   text NOT NULL DEFAULT 'double precision',
  version     integer NOT NULL DEFAULT 1,
  created_at  timestamptz NOT NULL DEFAULT now()
);

INSERT INTO feature_registry (name, description, unit) VALUES
  ('tenure_months',            'Months since the customer signed up',                                   'months'),
  ('plan_tier',                'Plan: 0 basic, 1 standard, 2 premium',                                  'tier'),
  ('monthly_charges',          'Recurring charges per month',                                           'currency per month'),
  ('contract_months',          'Contract length: 0 month-to-month, 12 or 24',                           'months'),
  ('autopay',                  '1 if the customer pays by automatic payment, else 0',                   'flag'),
  ('usage_trend',              'Relative change in usage, last 30 days vs the previous 90 days',        'ratio'),
  ('support_tickets_90d',      'Support tickets opened in the last 90 days',                            'count over 90 days'),
  ('payment_failures_90d',     'Failed payments in the last 90 days',                                   'count over 90 days'),
  ('days_since_last_activity', 'Days since the last session or purchase (recency)',                     'days'),
  ('sessions_30d',             'Sessions in the last 30 days (frequency)',                              'count over 30 days'),
  ('spend_12m',                'Spend over the trailing 12 months including add-ons (monetary)',        'currency');

-- The online feature store: one row per customer, one typed column per registered feature.
-- A NULL means "unknown"; such a customer can only be scored with that feature sent inline.
CREATE TABLE customer_features (
  customer_id              text PRIMARY KEY,
  tenure_months            double precision,
  plan_tier                double precision,
  monthly_charges          double precision,
  contract_months          double precision,
  autopay                  double precision,
  usage_trend              double precision,
  support_tickets_90d      double precision,
  payment_failures_90d     double precision,
  days_since_last_activity double precision,
  sessions_30d             double precision,
  spend_12m                double precision,
  updated_at               timestamptz NOT NULL DEFAULT now()
);

-- Ground-truth outcomes for training (the synthetic generator's labels on the embedded default;
-- a real deployment loads observed outcomes here).
CREATE TABLE customer_labels (
  customer_id text PRIMARY KEY REFERENCES customer_features (customer_id) ON DELETE CASCADE,
  churned     boolean NOT NULL,
  revenue_12m double precision NOT NULL CHECK (revenue_12m >= 0),
  observed_at date NOT NULL
);

-- Down Migration
DROP TABLE customer_labels;
DROP TABLE customer_features;
DROP TABLE feature_registry;
