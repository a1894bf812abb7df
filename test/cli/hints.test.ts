import { expect } from 'chai';
import type { Command } from 'commander';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { buildProgram, COMMAND_MODULES } from '../../src/cli/program.js';

/**
 * Every `meshgate COMMAND [SUBCOMMAND] --flag` that meshgate tells its users (error messages,
 * warnings, help examples: the string literals and template texts of src/, and docs/install.md)
 * names a command and flags the real program has. A hint whose command refuses it, or whose flag
 * does not exist, is worse than none.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(p);
    return e.name.endsWith('.ts') ? [p] : [];
  });
}

/** The texts of a file's string literals and templates (a substitution reads as `<x>`). */
function stringsOf(file: string): string[] {
  const sf = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const out: string[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) out.push(node.text);
    else if (ts.isTemplateExpression(node)) out.push(node.head.text + node.templateSpans.map((s) => `<x>${s.literal.text}`).join(''));
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

interface Hint {
  where: string;
  text: string;
}

/** `meshgate …` runs in a text, to the end of its line. */
function hintsIn(where: string, text: string): Hint[] {
  const out: Hint[] = [];
  for (const line of text.split('\n')) {
    for (const m of line.matchAll(/(?<![\w./-])meshgate (?=[a-z-])/g)) {
      // `--service-name meshgate`: the value of a flag, not a command.
      if (/--[\w-]+ $/.test(line.slice(0, m.index))) continue;
      out.push({ where, text: line.slice(m.index + 'meshgate '.length) });
    }
  }
  return out;
}

const flagsOf = (cmd: Command): string[] => cmd.options.flatMap((o) => [o.long, o.short]).filter((f): f is string => !!f).concat(['--help', '-h']);
const takesValue = (cmd: Command, flag: string): boolean => cmd.options.some((o) => (o.long === flag || o.short === flag) && (o.required || o.optional));

/**
 * Checks one hint against the program: undefined when it is prose ("meshgate serves HTTPS"), else
 * the problems found. The command ends at a token that ends a sentence or a shell command.
 */
function check(program: Command, hintText: string): string[] | undefined {
  const tokens = hintText.split(/\s+/).filter(Boolean);
  let i = 0;
  const problems: string[] = [];
  // Global options before the command word: `meshgate --mesh-name blue namespace add NS`.
  while (tokens[i]?.startsWith('--')) {
    const flag = tokens[i]!.replace(/[=;,.)`'"].*$/, '');
    if (!flagsOf(program).includes(flag)) return [`unknown global option ${flag}`];
    i += takesValue(program, flag) ? 2 : 1;
  }
  const word = tokens[i]?.replace(/[;,.)`'"|:]+$/, '');
  const command = program.commands.find((c) => c.name() === word || c.aliases().includes(word ?? ''));
  if (!command) return i === 0 ? undefined : [`no command "${word}"`];
  let cmd = command;
  let ended = /[;,.)`'"|:]$/.test(tokens[i]!);
  i++;
  if (!ended && cmd.commands.length > 0 && tokens[i] && !tokens[i]!.startsWith('-')) {
    const subWord = tokens[i]!.replace(/[;,.)`'"|:]+$/, '');
    // `namespace add|remove|ignore`: each alternative must exist.
    const subs = subWord.split('|').map((w) => cmd.commands.find((c) => c.name() === w || c.aliases().includes(w)));
    const missing = subWord.split('|').filter((_, k) => !subs[k]);
    if (missing.length > 0) return missing.map((w) => `${cmd.name()} has no subcommand "${w}"`);
    cmd = subs[0]!;
    ended = /[;,.)`'"|:]$/.test(tokens[i]!);
    i++;
  }
  const known = new Set<string>();
  for (let c: Command | null = cmd; c; c = c.parent) for (const f of flagsOf(c)) known.add(f);
  for (; !ended && i < tokens.length; i++) {
    const t = tokens[i]!;
    if (t === '|' || t === '&&' || t === '#' || t.startsWith('(')) break;
    ended = /[;,)`'"]$/.test(t);
    const flag = t.replace(/[=;,.)`'"].*$/, '');
    if (/^--?[a-zA-Z]/.test(flag) && !known.has(flag)) problems.push(`meshgate ${cmd.parent === program ? '' : `${cmd.parent!.name()} `}${cmd.name()} has no option ${flag}`);
  }
  return problems;
}

describe('hints that name meshgate commands', () => {
  let program: Command;
  before(async () => {
    const modules = await Promise.all([...new Set(Object.values(COMMAND_MODULES))].map((load) => load()));
    program = buildProgram([...new Set(modules.map((m) => m.register))]);
  });

  const hints: Hint[] = [
    ...sourceFiles(path.join(ROOT, 'src')).flatMap((f) => stringsOf(f).flatMap((s) => hintsIn(path.relative(ROOT, f), s))),
    ...hintsIn('docs/install.md', readFileSync(path.join(ROOT, 'docs/install.md'), 'utf8')),
  ];

  it('finds the hints (the scan reads what users are told)', () => {
    const texts = hints.map((h) => h.text);
    expect(texts.some((t) => t.startsWith('namespace add <x>'))).to.equal(true);
    expect(texts.some((t) => t.startsWith('install --crds --both-egress-groups'))).to.equal(true);
    expect(texts.some((t) => t.startsWith('serve --sidecar-mode native'))).to.equal(true);
  });

  it('every hint names a real command, subcommand and flags', () => {
    const bad = hints.flatMap((h) => (check(program, h.text) ?? []).map((p) => `${h.where}: "meshgate ${h.text}": ${p}`));
    expect(bad).to.deep.equal([]);
  });

  it('the checker catches a hint with a wrong flag or subcommand', () => {
    expect(check(program, 'install --namespace foo --mesh-namespace bar')).to.deep.equal([]);
    expect(check(program, 'install --crd')).to.deep.equal(['meshgate install has no option --crd']);
    expect(check(program, 'namespace enroll curl')).to.deep.equal(['namespace has no subcommand "enroll"']);
    expect(check(program, 'egress enable|stop')).to.deep.equal(['egress has no subcommand "stop"']);
    expect(check(program, 'serve --sidecar-mod native')).to.deep.equal(['meshgate serve has no option --sidecar-mod']);
    expect(check(program, '--mesh-nam x install')).to.deep.equal(['unknown global option --mesh-nam']);
    expect(check(program, 'serves HTTPS only')).to.equal(undefined);
  });
});
