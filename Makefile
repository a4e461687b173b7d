# Two commands do everything on a fresh machine with Python 3.11+:
#   make demo   install into .venv and anonymise samples/ (outputs, report, review page in demo-out/)
#   make test   ruff, mypy, the import layers and the tests in .venv-test; then the wheel and sdist are built, the wheel is
#               installed into a fresh venv and `anonymiser doctor` and a blur run there; then the
#               accuracy and names gates if ../shared/data exists
PYTHON ?= python3
DEMO_OUT ?= demo-out
SHARED_DATA ?= ../shared/data
# The sample photos (samples/references/ holds the consent log's reference photos: not for publishing).
SAMPLE_PHOTOS = $(wildcard samples/*.jpg samples/*.png)
DEMO = ANONYMISER_HOME=$(CURDIR)/.demo-home .venv/bin/anonymiser
CODE = anonymiser tests benchmarks scripts

.PHONY: demo test clean

.venv/.installed: pyproject.toml
	$(PYTHON) -m venv .venv
	.venv/bin/pip install -q -e .
	touch $@

.venv-test/.installed: pyproject.toml
	$(PYTHON) -m venv .venv-test
	.venv-test/bin/pip install -q -e '.[test]'
	touch $@

demo: .venv/.installed
	@rm -rf $(DEMO_OUT)
	$(DEMO) enrol samples/consent.csv
	$(DEMO) blur $(SAMPLE_PHOTOS) -o $(DEMO_OUT)/safe --consent samples/consent.csv \
		--report $(DEMO_OUT)/report.json --review $(DEMO_OUT)/review.html; \
		status=$$?; echo "safe copies in $(DEMO_OUT)/safe/, report $(DEMO_OUT)/report.json, review page $(DEMO_OUT)/review.html"; exit $$status

test: .venv-test/.installed
	sh scripts/system-deps.sh
	.venv-test/bin/ruff check $(CODE)
	.venv-test/bin/ruff format --check $(CODE)
	.venv-test/bin/mypy anonymiser
	.venv-test/bin/lint-imports --no-cache
	.venv-test/bin/pytest -q -p no:cacheprovider
	sh scripts/smoke-wheel.sh $(PYTHON) .venv-test/bin/python
	@if [ -d "$(SHARED_DATA)/face_detection" ]; then \
		.venv-test/bin/python benchmarks/accuracy.py --data $(SHARED_DATA) --gate; \
	else echo "no $(SHARED_DATA): accuracy gate skipped"; fi
	@if [ -d "$(SHARED_DATA)/name_text" ]; then \
		.venv-test/bin/python benchmarks/names.py --data $(SHARED_DATA) --sets name_text --gate --no-write; \
	else echo "no $(SHARED_DATA): names gate skipped"; fi

clean:
	rm -rf .venv .venv-test $(DEMO_OUT) .demo-home build dist
