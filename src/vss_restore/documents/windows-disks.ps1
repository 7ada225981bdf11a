# vss-restore: Windows disks of EBS volumes, for restores that do not stop the instance.
# Parameters come from the SSM document; their allowed patterns keep quotes out of them.
$ErrorActionPreference = 'Stop'
$action = '{{ Action }}'
$volumeIds = @('{{ VolumeIds }}' -split ',' | Where-Object { $_ })
$services = @('{{ Services }}' -split ',' | Where-Object { $_ })
$result = [ordered]@{ Action = $action; Disks = @(); Services = @() }

function Find-VolumeDisk([string]$VolumeId) {
    # Windows reports an EBS volume's id, without its hyphen, as the disk's serial number
    # (NVMe disks may add "_<namespace>"). Disk numbers change on attach: never use them.
    $serial = $VolumeId.Replace('-', '')
    for ($try = 0; $try -lt 30; $try++) {
        Update-HostStorageCache
        $found = @(Get-Disk | Where-Object {
            $_.SerialNumber -and (($_.SerialNumber -split '_')[0].Trim() -eq $serial) })
        if ($found.Count -eq 1) { return $found[0] }
        if ($found.Count -gt 1) { throw "$($found.Count) disks have the serial number $serial" }
        Start-Sleep -Seconds 2  # a volume just attached takes a moment to appear
    }
    throw "no disk has the serial number $serial of $VolumeId"
}

function Set-DiskOnline($Disk, [bool]$ReadOnly) {
    $reset = $false
    if ($Disk.IsOffline -and "$($Disk.OfflineReason)" -match 'Collision') {
        # A copy of a disk that is online here: Windows keeps it offline until it has
        # an identity of its own.
        if ($Disk.PartitionStyle -eq 'GPT') {
            Set-Disk -Number $Disk.Number -Guid ([guid]::NewGuid().ToString('B'))
        } else {
            Set-Disk -Number $Disk.Number -Signature (Get-Random -Minimum 1 -Maximum 2147483647)
        }
        $reset = $true
    }
    if ($Disk.IsOffline) { Set-Disk -Number $Disk.Number -IsOffline $false }
    Set-Disk -Number $Disk.Number -IsReadOnly $ReadOnly
    return $reset
}

function Get-DriveLetters([int]$Number) {
    @(Get-Partition -DiskNumber $Number -ErrorAction SilentlyContinue |
        Where-Object { $_.DriveLetter } | ForEach-Object { "$($_.DriveLetter)" })
}

function Add-DriveLetters([int]$Number) {
    Get-Partition -DiskNumber $Number | Where-Object {
        -not $_.DriveLetter -and $_.Type -notin @('Reserved', 'System', 'Recovery') } |
        ForEach-Object {
            Add-PartitionAccessPath -DiskNumber $Number -PartitionNumber $_.PartitionNumber `
                -AssignDriveLetter
        }
}

if ($action -eq 'Offline') {
    # Every service must exist before any is stopped: a misspelt name changes nothing.
    foreach ($name in $services) { $null = Get-Service -Name $name }
    foreach ($name in $services) {
        Stop-Service -Name $name -Force
        $result.Services += [ordered]@{ Name = $name; Status = "$((Get-Service -Name $name).Status)" }
    }
}
foreach ($id in $volumeIds) {
    $disk = Find-VolumeDisk $id
    $reset = $false
    switch ($action) {
        'Offline' { if (-not $disk.IsOffline) { Set-Disk -Number $disk.Number -IsOffline $true } }
        'Online' { $reset = Set-DiskOnline $disk $false }
        'MountReadOnly' {
            $reset = Set-DiskOnline $disk $false
            Add-DriveLetters $disk.Number
            Set-Disk -Number $disk.Number -IsReadOnly $true
        }
        default { throw "unknown action $action" }
    }
    $now = Get-Disk -Number $disk.Number
    $result.Disks += [ordered]@{
        VolumeId = $id; DiskNumber = $now.Number; Offline = [bool]$now.IsOffline
        ReadOnly = [bool]$now.IsReadOnly; SignatureReset = $reset
        DriveLetters = @(Get-DriveLetters $now.Number)
    }
}
if ($action -eq 'Online') {
    foreach ($name in $services) {
        if (-not (Get-Service -Name $name -ErrorAction SilentlyContinue)) {
            # Never stopped (Offline checks every name first): a rollback after a failed
            # Offline lists it, and must still start the others.
            $result.Services += [ordered]@{ Name = $name; Status = 'NotFound' }
            continue
        }
        Start-Service -Name $name
        $result.Services += [ordered]@{ Name = $name; Status = "$((Get-Service -Name $name).Status)" }
    }
}
# The workflow reads this line; everything above it is for people.
Write-Output ('VSS-RESTORE-RESULT ' + ($result | ConvertTo-Json -Compress -Depth 4))
