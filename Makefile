.DEFAULT_GOAL := help
.DELETE_ON_ERROR:

# The synthetic CDM that definitions named synth_*.yaml are built on; v4 is the generator
# version (a dynamic TIA planted), so a CDM of an older generator is not reused.
SYNTH_CDM ?= data/synth/cdm_20k_v4.duckdb
COHORTS := $(patsubst cohorts/%.yaml,%,$(wildcard cohorts/*.yaml))

# What `make demo` needs: the package and its runtime dependencies only.
.venv/.runtime: pyproject.toml
	python3 -m venv .venv
	.venv/bin/pip install -e .
	touch $@

# What `make test`, `lint` and `bench` need as well: pytest, ruff, playwright, pyspark.
.venv/.installed: .venv/.runtime pyproject.toml
	.venv/bin/pip install -e '.[dev]'
	touch $@

.PHONY: help  ## Show this help
help:
	@grep -E '^\.PHONY: [a-z-]+  ## ' $(MAKEFILE_LIST) | \
		awk 'BEGIN {FS = ".PHONY: |  ## "}; {printf "\033[36m%-10s\033[0m %s\n", $$2, $$3}'

DEMO := data/cohorts/gi_bleed_nsaid
PROGNOSIS := .venv/bin/prognosis

.PHONY: demo  ## gi_bleed_nsaid on Eunomia: cohort, Cox and xgboost models, HTML reports
demo: cohort-gi_bleed_nsaid
	$(PROGNOSIS) fit $(DEMO) --model cox --horizon 365 --split cv --seed 0 --out models/gi_bleed_nsaid_cox --overwrite
	$(PROGNOSIS) fit $(DEMO) --model xgb-cox --horizon 365 --split cv --seed 0 --out models/gi_bleed_nsaid_xgb_cox --overwrite
	$(PROGNOSIS) compare $(DEMO) --models cox,coxnet,xgb-cox --horizon 365 --split cv --seed 0
	$(PROGNOSIS) predict models/gi_bleed_nsaid_cox $(DEMO) --out data/predictions/gi_bleed_nsaid_cox.parquet --overwrite
	$(PROGNOSIS) report model models/gi_bleed_nsaid_xgb_cox $(DEMO) --out reports/gi_bleed_nsaid/ --overwrite
	$(PROGNOSIS) report patients models/gi_bleed_nsaid_xgb_cox $(DEMO) --out reports/gi_bleed_nsaid/patients/ --sample 10 --seed 0 --overwrite
	@echo "Cohort dataset: $(DEMO)/  Models: models/gi_bleed_nsaid_cox/, models/gi_bleed_nsaid_xgb_cox/"
	@echo "Model report: reports/gi_bleed_nsaid/index.html  Patient reports: reports/gi_bleed_nsaid/patients/index.html"

.PHONY: test  ## Run the test suite (what CI runs; needs PostgreSQL, see README.md)
test: .venv/.installed
	.venv/bin/pytest --ignore=tests/benchmarks

.PHONY: lint  ## Check the code with ruff
lint: .venv/.installed
	.venv/bin/ruff check .

.PHONY: bench  ## Run the benchmarks in tests/benchmarks/
bench: .venv/.installed
	.venv/bin/python tests/benchmarks/run.py

.PHONY: cohorts  ## Build every definition in cohorts/ into data/cohorts/NAME/
cohorts: $(COHORTS:%=cohort-%)

.PHONY: cohort  ## Build one definition: make cohort NAME=gi_bleed_nsaid
cohort:
	@test -n "$(NAME)" || { echo "usage: make cohort NAME=<a file in cohorts/, without .yaml>" >&2; exit 2; }
	@$(MAKE) --no-print-directory cohort-$(NAME)

# Definitions run on the bundled Eunomia demo data, except synth_* ones, on the synthetic CDM.
cohort-%: .venv/.runtime
	.venv/bin/prognosis cohort build cohorts/$*.yaml --out data/cohorts/$* --overwrite

cohort-synth_%: .venv/.runtime $(SYNTH_CDM)
	.venv/bin/prognosis cohort build cohorts/synth_$*.yaml --source duckdb:///$(SYNTH_CDM) \
		--out data/cohorts/synth_$* --overwrite

$(SYNTH_CDM): | .venv/.runtime
	@mkdir -p $(@D)
	.venv/bin/prognosis synth --persons 20000 --seed 42 --out $@

.PHONY: clean  ## Remove generated data, models, reports and caches (keeps .venv)
clean:
	rm -rf data models .pytest_cache .ruff_cache .hypothesis
	find reports -mindepth 1 -maxdepth 1 ! -name README.md -exec rm -rf {} +
	find . -path ./.venv -prune -o -name __pycache__ -type d -exec rm -rf {} +
